package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/listener"
	"github.com/bootsrv/bootsrv/scripts"
)

// newRegistry is the process's own registry (never the global one) with the
// Go, process and build-info collectors and bootsrv_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bootsrv_build_info",
		Help: "Always 1; labels carry the bootsrv version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	reg.MustRegister(info)
	return reg
}

// newHTTPServer serves metrics, health, the services' handlers and, when
// store is not nil (http.images), the image store under http.images_path.
// Boot scripts (scr not nil) are served there too, before store files.
// Image paths are routed before the mux (routeImages), which would
// redirect non-canonical ones.
func newHTTPServer(cfg httpConfig, reg *prometheus.Registry, h *health, svcs []*service, store *images.Store, scr *scripts.Server) *http.Server {
	mux := http.NewServeMux()
	var files http.Handler
	if store != nil {
		files = store.Handler()
	}
	if scr != nil {
		files = scr.Handler(files)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("GET /healthz", h)
	for _, s := range svcs {
		for pattern, handler := range s.handlers {
			mux.Handle(pattern, handler)
		}
	}
	var handler http.Handler = mux
	if files != nil {
		handler = routeImages(cfg.ImagesPath, files, mux)
	}
	return &http.Server{
		Handler:           stallTimeout(handler, cfg.WriteTimeout),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
	}
}

// httpListener guards the HTTP listener: transient accept errors
// (EMFILE...) are waited out and counted, and connections are capped in
// total and per client address; a refused connection gets a 503 and is
// closed, so a flood of idle keep-alive connections cannot take every file
// descriptor of the process.
func httpListener(ln net.Listener, cfg httpConfig, log zerolog.Logger, reg prometheus.Registerer) (net.Listener, error) {
	acceptErrors := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bootsrv_http_accept_errors_total",
		Help: "Transient errors accepting HTTP connections (out of file descriptors or buffers), each waited out and retried.",
	})
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bootsrv_http_refusals_total",
		Help: "HTTP connections refused with 503 by reason: connection_limit (http.max_connections) or ip_limit (http.max_connections_per_ip).",
	}, []string{"reason"})
	for _, r := range []string{listener.ReasonTotal, listener.ReasonPerIP} {
		refusals.WithLabelValues(r)
	}
	logged := newSampler(time.Second)
	limited := listener.Limit(listener.Retry(ln, func(err error) {
		acceptErrors.Inc()
		if ok, n := logged.allow(time.Now()); ok {
			log.Warn().Err(err).Int("suppressed", n).Msg("http accept failed; retrying")
		}
	}), listener.Limits{
		Total: cfg.MaxConnections,
		PerIP: cfg.MaxConnectionsPerIP,
		Refuse: func(c net.Conn, reason string) {
			refusals.WithLabelValues(reason).Inc()
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"+
				"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections")
		},
	})
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bootsrv_http_connections_open",
		Help: "HTTP connections open now (bounded by http.max_connections).",
	}, func() float64 { return float64(listener.Open(limited)) })
	for _, c := range []prometheus.Collector{acceptErrors, refusals, open} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("http metrics: %w", err)
		}
	}
	return limited, nil
}

// stallChunk is how much of a response may go out between two moves of
// the write deadline.
const stallChunk = 512 << 10

// stallTimeout gives every response a write deadline that moves on as the
// response makes progress: d after the start, and again after each
// stallChunk bytes. http.Server's own WriteTimeout bounds the whole
// response, which would cut a large image sent to a slow client.
func stallTimeout(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		sw := &stallWriter{ResponseWriter: w, rc: rc, d: d}
		sw.extend()
		next.ServeHTTP(sw, r)
	})
}

type stallWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	d       time.Duration
	pending int // bytes written since the deadline last moved
}

func (w *stallWriter) extend() {
	w.pending = 0
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
}

func (w *stallWriter) Write(p []byte) (int, error) {
	if w.pending += len(p); w.pending >= stallChunk {
		w.extend()
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom sends r in chunks, moving the deadline before each. An
// *io.LimitedReader (what http.ServeContent hands over for a file) is
// narrowed in place rather than wrapped, because the sendfile path of
// *net.TCPConn sees through one LimitedReader only.
func (w *stallWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		lr = &io.LimitedReader{R: r, N: 1<<63 - 1}
	}
	var total int64
	for lr.N > 0 {
		w.extend()
		rest := max(lr.N-stallChunk, 0)
		lr.N -= rest
		n, err := rf.ReadFrom(lr)
		lr.N += rest
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
