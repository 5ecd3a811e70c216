package web

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Results of an HTTP transfer, the values of the result label.
const (
	resultOK       = "ok"      // 200, every byte sent
	resultPartial  = "partial" // 206 range, every byte of it sent
	resultNotMod   = "not_modified"
	resultNotFound = "not_found" // 404 and other 4xx
	resultError    = "error"     // 5xx, or the client went away mid-body
)

var transferResults = []string{resultOK, resultPartial, resultNotMod, resultNotFound, resultError}

// transferMetrics are the HTTP twins of the TFTP and FTP transfer metrics.
type transferMetrics struct {
	transfers *prometheus.CounterVec
	bytes     prometheus.Counter
	duration  prometheus.Histogram
	inFlight  prometheus.Gauge
}

func newTransferMetrics(reg prometheus.Registerer) (*transferMetrics, error) {
	m := &transferMetrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_http_transfers_total",
			Help: "GETs of the image store and boot scripts by result: ok, partial (range), not_modified, not_found, error (5xx or the client left mid-body).",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_http_bytes_total",
			Help: "Body bytes of store files and boot scripts sent over HTTP.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bootsrv_http_transfer_duration_seconds",
			Help:    "Duration of HTTP GETs of store files and boot scripts.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bootsrv_http_transfers_in_flight",
			Help: "HTTP GETs of store files and boot scripts running now.",
		}),
	}
	for _, r := range transferResults {
		m.transfers.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.transfers, m.bytes, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// accountFiles wraps the store's handler: every GET of it is one log line,
// counted in the transfer metrics and told to the boot timeline (a Transfer
// for a complete 200, a Refusal for a 404), like TFTP and FTP transfers.
// HEAD requests only ask about a file and are not transfers.
func (s *Server) accountFiles(files http.Handler, events event.Sink, transfers *inflight.Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			files.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		s.tm.inFlight.Inc()
		cw := &countingWriter{ResponseWriter: w, status: http.StatusOK,
			flight: transfers.Start(inflight.Info{Service: "http", File: strings.TrimLeft(r.URL.Path, "/"), Peer: r.RemoteAddr, Size: -1})}
		files.ServeHTTP(cw, r)
		cw.flight.Done()
		s.tm.inFlight.Dec()
		d := time.Since(start)
		name := strings.TrimLeft(r.URL.Path, "/")
		result := cw.result()
		s.tm.transfers.WithLabelValues(result).Inc()
		if result == resultOK || result == resultPartial || result == resultError {
			s.tm.bytes.Add(float64(cw.n)) // file bytes, not error pages
		}
		s.tm.duration.Observe(d.Seconds())
		ev := s.log.Info()
		if result == resultError {
			ev = s.log.Warn()
		}
		ev.Str("peer", r.RemoteAddr).Str("file", name).Int("status", cw.status).Int64("bytes", cw.n).
			Dur("duration", d).Str("result", result).Msg("http transfer")
		if events == nil {
			return
		}
		e := event.Event{Service: event.HTTP, Kind: event.Transfer, File: name, Bytes: cw.n, Duration: d}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			e.IP = ap.Addr().Unmap()
		}
		switch result {
		case resultOK:
			e.Result = event.OK
		case resultNotFound:
			e.Kind, e.Result, e.Detail = event.Refusal, event.Failed, strconv.Itoa(cw.status)
		case resultError:
			e.Result, e.Detail = event.Failed, "status "+strconv.Itoa(cw.status)
		default:
			return // a range or a cache check is no step of a boot
		}
		events.Record(e)
	})
}

// countingWriter notes the status and counts the body bytes of a
// response, keeping ReadFrom (sendfile) for the file's body.
type countingWriter struct {
	http.ResponseWriter
	status  int
	n       int64
	want    int64 // Content-Length when set, else -1
	wrote   bool
	failure bool               // a write failed: the client did not get it all
	flight  *inflight.Transfer // the body's progress, for the console
}

func (w *countingWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote, w.status = true, code
		w.want = -1
		if cl := w.Header().Get("Content-Length"); cl != "" {
			w.want, _ = strconv.ParseInt(cl, 10, 64)
		}
		if code == http.StatusOK || code == http.StatusPartialContent {
			w.flight.SetSize(w.want)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	w.flight.Add(int64(n))
	w.failure = w.failure || err != nil
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
		w.n += n
		w.flight.Add(n)
		w.failure = w.failure || err != nil
		return n, err
	}
	// The file's body comes as an *io.LimitedReader (http.ServeContent):
	// hand it on in chunks, narrowed in place so that sendfile still sees
	// through it (see stallWriter.ReadFrom), to count progress as it goes.
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		lr = &io.LimitedReader{R: r, N: 1<<63 - 1}
	}
	var total int64
	for lr.N > 0 {
		rest := max(lr.N-stallChunk, 0)
		lr.N -= rest
		n, err := rf.ReadFrom(lr)
		lr.N += rest
		total += n
		w.n += n
		w.flight.Add(n)
		if err != nil || n == 0 {
			w.failure = w.failure || err != nil
			return total, err
		}
	}
	return total, nil
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *countingWriter) result() string {
	short := w.failure || (w.want >= 0 && w.n < w.want)
	switch {
	case w.status >= 500, (w.status == 200 || w.status == 206) && short:
		return resultError
	case w.status == http.StatusNotModified:
		return resultNotMod
	case w.status >= 400:
		return resultNotFound
	case w.status == http.StatusPartialContent:
		return resultPartial
	}
	return resultOK
}
