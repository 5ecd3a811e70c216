package tftp

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
)

// transfer is one request as seen by the handlers: who asked for what, and
// the child logger its lines go to.
type transfer struct {
	s       *Server
	dir     string
	file    string // the name as the client sent it, for logs only
	peer    net.UDPAddr
	localIP net.IP
	start   time.Time
	log     zerolog.Logger
}

// remote is what pin/tftp's sender and receiver both offer.
type remote interface{ RemoteAddr() net.UDPAddr }

func (s *Server) begin(dir, file string, x any) *transfer {
	t := &transfer{s: s, dir: dir, file: file, start: time.Now()}
	if r, ok := x.(remote); ok {
		t.peer = r.RemoteAddr()
	}
	if p, ok := x.(tftp.RequestPacketInfo); ok {
		t.localIP = p.LocalIP()
	}
	t.log = s.log.With().Str("direction", dir).Str("peer", t.peer.String()).Str("file", file).Logger()
	return t
}

// refuse counts and logs a request turned down before any data moved and
// returns the error for pin/tftp to send. Codes other than 1 are sent here
// first, since the library can only send code 1 (see doc.go).
func (t *transfer) refuse(r *refusal) error {
	t.s.m.refusals.WithLabelValues(r.reason).Inc()
	ev := t.log.Info()
	if r.cause != nil {
		ev = ev.AnErr("cause", r.cause)
	}
	ev.Str("reason", r.reason).Int("code", int(r.code)).Msg("tftp request refused")
	if r.code != codeNotFound {
		if err := sendError(t.localIP, t.peer, r.code, r.msg); err != nil {
			t.log.Debug().Err(err).Msg("tftp error packet not sent")
		}
	}
	return r
}

// finish accounts for a transfer that ran: one log line, the metrics.
func (t *transfer) finish(n int64, err, ioErr error) {
	d := time.Since(t.start)
	result := endResult(err)
	m := t.s.m
	m.transfers.WithLabelValues(t.dir, result).Inc()
	m.bytes.WithLabelValues(t.dir).Add(float64(n))
	m.duration.WithLabelValues(t.dir).Observe(d.Seconds())
	var r *refusal
	if errors.As(err, &r) {
		m.refusals.WithLabelValues(r.reason).Inc()
	}
	ev := t.log.Info()
	if result != resultOK && result != resultPeerAbort {
		ev = t.log.Warn()
	}
	if err != nil {
		ev = ev.AnErr("error", err)
	}
	if ioErr != nil {
		ev = ev.AnErr("cause", ioErr)
	}
	st := t.s.stats.take(t.peer.IP, t.file)
	ev.Int64("bytes", n).Dur("duration", d).Str("mode", st.mode).Int("blksize", st.blksize).
		Int("datagrams", st.sent).Str("result", result).Msg("tftp transfer")
}

func (s *Server) handleRead(file string, rf io.ReaderFrom) error {
	t := s.begin(dirRead, file, rf)
	if !s.acquire() {
		return t.refuse(errBusy)
	}
	defer s.release()
	f, err := s.open(file, t.localIP, t.peer)
	if err != nil {
		return t.refuse(refuse(err))
	}
	defer f.Close()
	s.stats.join(t.peer.IP, file)
	r := &fileReader{f: f, stop: s.stop}
	n, err := rf.ReadFrom(r)
	t.finish(n, err, r.err)
	return err
}

func (s *Server) handleWrite(file string, wt io.WriterTo) error {
	t := s.begin(dirWrite, file, wt)
	if !s.cfg.AllowWrite {
		return t.refuse(errWriteDisabled)
	}
	if !s.acquire() {
		return t.refuse(errBusy)
	}
	defer s.release()
	if n, err := images.Clean(file); err != nil || n == "." {
		return t.refuse(refuse(errors.Join(images.ErrInvalidName, err)))
	}
	name, err := images.Join(s.cfg.UploadDir, file)
	if err != nil {
		return t.refuse(refuse(err))
	}
	// RFC 2349 section 3: a WRQ may announce its size; refuse early, with
	// code 3, rather than after the cap is hit mid-transfer.
	if in, ok := wt.(tftp.IncomingTransfer); ok && s.cfg.MaxUploadSize > 0 {
		if size, ok := in.Size(); ok && size > s.cfg.MaxUploadSize {
			return t.refuse(refuse(images.ErrTooLarge))
		}
	}
	up, err := s.store.Create(name, s.cfg.MaxUploadSize)
	if err != nil {
		return t.refuse(refuse(err))
	}
	defer up.Abort()
	s.stats.join(t.peer.IP, file)
	w := &uploadWriter{up: up, stop: s.stop}
	n, err := wt.WriteTo(w)
	if err == nil {
		// Commit before returning: pin/tftp sends the last ACK only after
		// the handler returns nil, so the client learns of a failed commit.
		if cerr := up.Commit(); cerr != nil {
			w.err, err = cerr, refuse(cerr)
		}
	}
	t.finish(n, err, w.err)
	return err
}

// fileReader feeds a file to pin/tftp. It reads ahead in large chunks
// (blocks are small, syscalls are not free), turns read errors into a
// message without a path, and stops the transfer after the drain deadline.
type fileReader struct {
	f    io.ReadSeeker
	buf  []byte
	pos  int
	end  int
	stop <-chan struct{}
	err  error // the real read error, for the log
}

const readAhead = 32 << 10

func (r *fileReader) Read(p []byte) (int, error) {
	select {
	case <-r.stop:
		return 0, errShutdown
	default:
	}
	if r.pos == r.end {
		if r.buf == nil {
			r.buf = make([]byte, readAhead)
		}
		n, err := r.f.Read(r.buf)
		r.pos, r.end = 0, n
		if n == 0 {
			if err == nil || err == io.EOF {
				return 0, io.EOF
			}
			r.err = err
			return 0, refuse(err)
		}
	}
	n := copy(p, r.buf[r.pos:r.end])
	r.pos += n
	return n, nil
}

// Seek lets pin/tftp learn the size for tsize (RFC 2349), which it does
// before the first Read and only in octet mode.
func (r *fileReader) Seek(off int64, whence int) (int64, error) {
	if r.buf != nil {
		return 0, errors.New("seek after read")
	}
	return r.f.Seek(off, whence)
}

// uploadWriter feeds DATA blocks to an upload, mapping store errors (size
// cap, full disk) to short client messages.
type uploadWriter struct {
	up   *images.Upload
	stop <-chan struct{}
	err  error
}

func (w *uploadWriter) Write(p []byte) (int, error) {
	select {
	case <-w.stop:
		return 0, errShutdown
	default:
	}
	n, err := w.up.Write(p)
	if err != nil {
		w.err = err
		return n, refuse(err)
	}
	return n, nil
}

// statsBoard carries pin/tftp's statistics (mode, negotiated blksize,
// datagrams) from its hook to the handler's log line. The hook only knows
// the peer's IP and the file name, so that is the key; two concurrent
// transfers of one file to one host (duplicate requests) may swap their
// figures, which are then the same anyway.
type statsBoard struct {
	mu sync.Mutex
	m  map[string]*statsSlot
}

type statsSlot struct {
	refs    int
	mode    string
	blksize int
	sent    int
}

func statsKey(ip net.IP, file string) string { return ip.String() + "\x00" + file }

func (b *statsBoard) join(ip net.IP, file string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := statsKey(ip, file)
	if b.m[k] == nil {
		b.m[k] = &statsSlot{}
	}
	b.m[k].refs++
}

// put records st if a handler is waiting for it; refused requests have
// none, so nothing piles up.
func (b *statsBoard) put(st tftp.TransferStats) {
	blk := 512 // RFC 1350 default when no blksize was negotiated
	if v, err := strconv.Atoi(st.Opts["blksize"]); err == nil {
		blk = v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if sl := b.m[statsKey(st.RemoteAddr, st.Filename)]; sl != nil {
		sl.mode, sl.blksize, sl.sent = st.Mode, blk, st.DatagramsSent
	}
}

func (b *statsBoard) take(ip net.IP, file string) statsSlot {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := statsKey(ip, file)
	sl := b.m[k]
	if sl == nil {
		return statsSlot{}
	}
	out := *sl
	if sl.refs--; sl.refs <= 0 {
		delete(b.m, k)
	}
	return out
}
