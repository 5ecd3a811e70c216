package tftp

import "github.com/prometheus/client_golang/prometheus"

// Label values. Directions and results are fixed sets so dashboards can
// rely on every series existing from the start.
const (
	dirRead  = "download"
	dirWrite = "upload"

	resultOK        = "ok"
	resultTimeout   = "timeout"    // the peer stopped answering
	resultPeerAbort = "peer_abort" // the peer sent ERROR (also UEFI's tsize probe)
	resultShutdown  = "shutdown"   // stopped by the drain deadline
	resultError     = "error"      // a server-side failure (disk, size cap, ...)
	// The peer never answered (ACK, or DATA on uploads): a forged
	// source address, or a client that cannot hear the server.
	resultUnverifiedTimeout = "unverified_timeout"
	resultEvicted           = "evicted" // unverified, its slot taken by a newer request
)

var (
	directions = []string{dirRead, dirWrite}
	results    = []string{resultOK, resultTimeout, resultPeerAbort, resultShutdown, resultError,
		resultUnverifiedTimeout, resultEvicted}
)

type metrics struct {
	transfers *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	refusals  *prometheus.CounterVec

	unverified prometheus.Gauge
	buffers    prometheus.Gauge
	readErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_tftp_transfers_total",
			Help: "TFTP transfers that were started, by direction and how they ended. Refused requests are counted in bootsrv_tftp_refusals_total instead.",
		}, []string{"direction", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_tftp_bytes_total",
			Help: "File bytes sent to clients (download) or received from them (upload) by TFTP transfers, retransmissions not counted.",
		}, []string{"direction"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bootsrv_tftp_transfer_duration_seconds",
			Help:    "Duration of TFTP transfers, from request to last packet.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9), // 5ms .. ~5.5min
		}, []string{"direction"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bootsrv_tftp_transfers_in_flight",
			Help: "TFTP transfers currently running.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_tftp_refusals_total",
			Help: "TFTP requests refused or transfers stopped by the server, by reason.",
		}, []string{"reason"}),
		unverified: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bootsrv_tftp_transfers_unverified",
			Help: "TFTP transfers in flight whose peer has not answered yet (no ACK, or no DATA on uploads); part of bootsrv_tftp_transfers_in_flight.",
		}),
		buffers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bootsrv_tftp_buffer_bytes",
			Help: "Bytes of data buffers held by TFTP transfers in flight: read-ahead and window on downloads, block and write buffers on uploads.",
		}),
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_tftp_read_errors_total",
			Help: "Errors reading the TFTP listening socket (ENOBUFS, ENOMEM, ICMP errors, ...); the listener retries after a short backoff.",
		}),
	}
	for _, c := range []prometheus.Collector{m.transfers, m.bytes, m.duration, m.inFlight, m.refusals,
		m.unverified, m.buffers, m.readErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, d := range directions {
		m.bytes.WithLabelValues(d)
		m.duration.WithLabelValues(d)
		for _, r := range results {
			m.transfers.WithLabelValues(d, r)
		}
	}
	for _, r := range reasons {
		m.refusals.WithLabelValues(r)
	}
	return m, nil
}
