package web

import (
	"io"
	"net/http"
	"time"
)

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
