package ftp

import "github.com/prometheus/client_golang/prometheus"

// metrics are the server's Prometheus series, registered on the injected
// registry. Labels never carry names, addresses or users.
type metrics struct {
	sessions  prometheus.Gauge
	logins    *prometheus.CounterVec // result: success, anonymous, failure
	transfers *prometheus.CounterVec // direction: download, upload; result: ok, error, aborted
	bytes     *prometheus.CounterVec // direction
	duration  *prometheus.HistogramVec
	refusals  *prometheus.CounterVec // reason
	inFlight  prometheus.Gauge
	// acceptErrors counts failed accepts of control connections.
	acceptErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bootsrv_ftp_sessions_active", Help: "FTP control connections open now.",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_ftp_logins_total", Help: "FTP login attempts by result.",
		}, []string{"result"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_ftp_transfers_total", Help: "FTP file transfers by direction and result.",
		}, []string{"direction", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_ftp_bytes_total", Help: "File bytes moved over FTP data connections.",
		}, []string{"direction"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bootsrv_ftp_transfer_duration_seconds",
			Help:    "Duration of FTP file transfers.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"direction"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_ftp_refusals_total",
			Help: "Connections, commands and data connections refused, and errors, by reason.",
		}, []string{"reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bootsrv_ftp_transfers_in_flight", Help: "FTP file transfers running now.",
		}),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_ftp_accept_errors_total",
			Help: "Failed accepts of FTP control connections (e.g. out of file descriptors); accepting resumes after a backoff.",
		}),
	}
	for _, c := range []prometheus.Collector{m.sessions, m.logins, m.transfers, m.bytes, m.duration,
		m.refusals, m.inFlight, m.acceptErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Refusal and error reasons (label values of bootsrv_ftp_refusals_total).
const (
	reasonSessionLimit = "session_limit"
	reasonIPLimit      = "ip_limit"
	reasonLineTooLong  = "line_too_long"
	reasonBadLine      = "bad_line"
	reasonNotLoggedIn  = "not_logged_in"
	reasonLoginLimit   = "login_failures"
	reasonBadPort      = "port_refused"
	reasonForeignData  = "foreign_data_connection"
	reasonTLSRequired  = "tls_required"
	reasonUnsupported  = "unsupported_command"
	reasonPermission   = "permission"
	reasonNoSpace      = "no_space"
	reasonIOError      = "io_error"
	reasonTimeout      = "timeout"
)
