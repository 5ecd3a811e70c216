package web

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bootsrv/bootsrv/internal/listener"
	"github.com/bootsrv/bootsrv/internal/logsample"
)

// guardMetrics count what the listener guard does.
type guardMetrics struct {
	acceptErrors prometheus.Counter
	refusals     *prometheus.CounterVec
}

func newGuardMetrics(reg prometheus.Registerer, open func() float64) (*guardMetrics, error) {
	m := &guardMetrics{
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_http_accept_errors_total",
			Help: "Transient errors accepting HTTP connections (out of file descriptors or buffers), each waited out and retried.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_http_refusals_total",
			Help: "HTTP connections refused with 503 by reason: connection_limit (http.max_connections) or ip_limit (http.max_connections_per_ip).",
		}, []string{"reason"}),
	}
	for _, r := range []string{listener.ReasonTotal, listener.ReasonPerIP} {
		m.refusals.WithLabelValues(r)
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bootsrv_http_connections_open",
		Help: "HTTP connections open now (bounded by http.max_connections).",
	}, open)
	for _, c := range []prometheus.Collector{m.acceptErrors, m.refusals, gauge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("http metrics: %w", err)
		}
	}
	return m, nil
}

// guard wraps the listener handed to Serve: transient accept errors
// (EMFILE...) are waited out and counted, and connections are capped in
// total and per client address; a refused connection gets a 503 and is
// closed, so a flood of idle keep-alive connections cannot take every file
// descriptor of the process. Closing the guard stops Accept without
// closing ln, which belongs to Serve's caller.
func (s *Server) guard(ln net.Listener) net.Listener {
	logged := logsample.New(time.Second)
	limited := listener.Limit(listener.Retry(listener.Unowned(ln), func(err error) {
		s.m.acceptErrors.Inc()
		if ok, n := logged.Allow(time.Now()); ok {
			s.log.Warn().Err(err).Int("suppressed", n).Msg("http accept failed; retrying")
		}
	}), listener.Limits{
		Total: s.cfg.MaxConnections,
		PerIP: s.cfg.MaxConnectionsPerIP,
		Refuse: func(c net.Conn, reason string) {
			s.m.refusals.WithLabelValues(reason).Inc()
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"+
				"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections")
		},
	})
	s.open.Store(&limited)
	return limited
}
