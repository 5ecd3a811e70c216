package ftp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// chunk is how much data moves between two refreshes of the data
// connection's deadline: a transfer fails when less than chunk moves in
// Limits.DataTimeout (at the default 30s, below about 17 KiB/s).
const chunk = 512 << 10

// GetHandle opens a file for RETR, STOR or APPE (the library's transfer
// extension).
func (d *fsDriver) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if flags&(os.O_WRONLY|os.O_RDWR) == 0 {
		return d.openDownload(p)
	}
	return d.openUpload(p, flags&os.O_APPEND != 0, offset)
}

func (d *fsDriver) openDownload(p string) (ftpserver.FileTransfer, error) {
	if d.uploadOnly(p) {
		return nil, d.fail("retr", p, errUploadOnly)
	}
	f, fi, err := d.store.Open(p)
	if err != nil {
		return nil, d.fail("retr", p, err)
	}
	d.srv.flight.add()
	d.srv.m.inFlight.Inc()
	return &download{File: f, d: d, name: p, size: fi.Size(), began: time.Now(), start: -1,
		ascii: d.sess.ascii.Load(), flight: d.track(p, false, fi.Size())}, nil
}

// download hands the library the *os.File itself (embedded), and its
// WriteTo passes the file to the data connection's ReadFrom in chunks, so
// that a plain TCP data connection sends with sendfile(2).
type download struct {
	*os.File
	d      *fsDriver
	name   string
	size   int64
	start  int64 // offset of the first byte sent (after REST); -1 until known
	began  time.Time
	ascii  bool // TYPE A: LF goes out as CRLF (ascii.go)
	failed error
	flight *inflight.Transfer // its progress, for the console
}

// track makes a transfer of store file p visible in Config.Transfers
// while it runs; size is -1 when not known.
func (d *fsDriver) track(p string, upload bool, size int64) *inflight.Transfer {
	return d.srv.transfers.Start(inflight.Info{Service: "ftp", Upload: upload, File: p,
		Peer: d.sess.remote.String(), User: d.acct.name, Size: size})
}

func (h *download) markStart() {
	if h.start < 0 {
		h.start, _ = h.File.Seek(0, io.SeekCurrent)
	}
}

// Read is not used by the library, which copies with WriteTo.
func (h *download) Read(p []byte) (int, error) {
	h.markStart()
	return h.File.Read(p)
}

// WriteTo copies the rest of the file to w. io.Copy(w, LimitedReader{file})
// reaches (*net.TCPConn).ReadFrom, which uses sendfile(2); the write
// deadline is refreshed between chunks so a stalled client times out.
func (h *download) WriteTo(w io.Writer) (int64, error) {
	h.markStart()
	if h.ascii {
		return h.writeASCII(w)
	}
	dl, _ := w.(interface{ SetWriteDeadline(time.Time) error })
	var total int64
	for {
		if dl != nil {
			dl.SetWriteDeadline(time.Now().Add(h.d.srv.conf().Limits.DataTimeout))
		}
		n, err := io.Copy(w, &io.LimitedReader{R: h.File, N: chunk})
		total += n
		h.flight.Add(n)
		if err != nil || n < chunk {
			return total, err
		}
	}
}

// asciiChunk is how much of the file a TYPE A transfer converts at a time.
const asciiChunk = 32 << 10

// writeASCII sends the rest of the file converted to CRLF line ends, with
// the write deadline refreshed before each write, as for binary.
func (h *download) writeASCII(w io.Writer) (int64, error) {
	dl, _ := w.(interface{ SetWriteDeadline(time.Time) error })
	in := make([]byte, asciiChunk)
	out := make([]byte, 0, 2*asciiChunk)
	var cr bool
	var total int64
	for {
		n, rerr := h.File.Read(in)
		if n > 0 {
			out = toCRLF(out[:0], in[:n], &cr)
			if dl != nil {
				dl.SetWriteDeadline(time.Now().Add(h.d.srv.conf().Limits.DataTimeout))
			}
			m, werr := w.Write(out)
			total += int64(m)
			h.flight.Add(int64(m))
			if werr != nil {
				return total, werr
			}
		}
		switch {
		case rerr == io.EOF:
			return total, nil
		case rerr != nil:
			return total, rerr
		}
	}
}

// TransferError is called by the library when the data connection failed
// (a reset, or data_timeout with no progress): 426 (RFC 959 §4.2), with
// no detail such as addresses in the text.
func (h *download) TransferError(err error) {
	h.failed = err
	h.d.sess.setOverride(reply{426, "Connection closed; transfer aborted."})
}

func (h *download) Close() error {
	h.markStart()
	end, _ := h.File.Seek(0, io.SeekCurrent)
	err := h.File.Close()
	result := "ok"
	if h.failed != nil {
		result = "error"
	}
	h.flight.Done()
	h.d.finish("download", h.name, end-h.start, h.began, result, h.failed)
	return err
}

// finish records one transfer's metrics and log line.
func (d *fsDriver) finish(dir, name string, n int64, began time.Time, result string, err error) {
	m := d.srv.m
	// Out of flight last, once the transfer is counted and logged: a
	// drain (or a test) that waits for idle then sees it whole.
	defer d.srv.flight.done()
	m.inFlight.Dec()
	m.transfers.WithLabelValues(dir, result).Inc()
	m.bytes.WithLabelValues(dir).Add(float64(max(n, 0)))
	m.duration.WithLabelValues(dir).Observe(time.Since(began).Seconds())
	if dir == "download" {
		d.sess.bytesDown.Add(n)
	} else {
		d.sess.bytesUp.Add(n)
	}
	ev := d.sess.log.Info()
	if err != nil {
		ev = d.sess.log.Warn().Err(err)
	}
	ev.Str("direction", dir).Str("file", name).Int64("bytes", n).
		Dur("duration", time.Since(began)).Str("result", result).Msg("ftp transfer")
	e := event.Event{IP: d.sess.remote, Kind: event.Transfer, Result: event.OK, File: name, Bytes: n, Duration: time.Since(began)}
	if dir == "upload" {
		e.Kind = event.Upload
	}
	if result != "ok" {
		e.Result, e.Detail = event.Failed, result
	}
	d.srv.record(e)
}

func (d *fsDriver) openUpload(p string, appendMode bool, offset int64) (ftpserver.FileTransfer, error) {
	if d.acct.anon {
		return d.openAnonUpload(p, appendMode, offset)
	}
	if !d.acct.write {
		return nil, d.fail("stor", p, images.ErrReadOnly)
	}
	// APPE onto a complete file is refused even with allow_overwrite: the
	// partial holds only the new bytes and would replace the file.
	if _, err := d.store.Stat(p); err == nil && (!d.srv.conf().AllowOverwrite || appendMode) {
		return nil, d.fail("stor", p, images.ErrExists)
	}
	key := images.PartialName(p, d.acct.name)
	if !d.srv.lockUpload(key) {
		return nil, d.fail("stor", p, errBusy)
	}
	if appendMode {
		offset = -1 // APPE continues after what the partial holds
	}
	part, err := d.store.OpenPartial(p, d.acct.name, offset)
	if err != nil {
		d.srv.unlockUpload(key)
		return nil, d.fail("stor", p, err)
	}
	start, _ := part.File().Seek(0, io.SeekCurrent)
	d.srv.flight.add()
	d.srv.m.inFlight.Inc()
	return &upload{d: d, name: p, key: key, part: part, start: start, began: time.Now(),
		ascii: d.sess.ascii.Load(), flight: d.track(p, true, -1)}, nil
}

// openAnonUpload allows new files directly in the upload folder only: no
// resume (another anonymous client could continue someone else's file), no
// overwrite (images.Create never replaces).
func (d *fsDriver) openAnonUpload(p string, appendMode bool, offset int64) (ftpserver.FileTransfer, error) {
	switch {
	case d.acct.upload == "" || !within(p, d.acct.upload) || p == d.acct.upload:
		return nil, d.fail("stor", p, images.ErrReadOnly)
	case appendMode || offset > 0:
		return nil, d.fail("stor", p, errNoResume)
	}
	u, err := d.store.Create(p, d.srv.conf().MaxUploadSize)
	if err != nil {
		return nil, d.fail("stor", p, err)
	}
	d.srv.flight.add()
	d.srv.m.inFlight.Inc()
	return &upload{d: d, name: p, anon: u, began: time.Now(), ascii: d.sess.ascii.Load(),
		flight: d.track(p, true, -1)}, nil
}

// upload receives STOR/APPE data into a hidden file. It is committed (made
// visible under its name) only when the transfer completed: the data
// connection ended with EOF (RFC 959 §3.4.1, stream mode: EOF is end of
// file), the library reported no error and no ABOR (TransferError), and
// the client did not hang up its control connection with it (complete,
// in commit.go). Otherwise a named user's partial stays for a resume and
// an anonymous one is deleted.
type upload struct {
	d       *fsDriver
	name    string
	key     string
	part    *images.Partial // named users
	anon    *images.Upload  // anonymous
	start   int64
	written int64
	began   time.Time
	eof     time.Time // when the data connection ended cleanly
	ascii   bool      // TYPE A: CRLF is stored as LF (ascii.go)
	failed  error
	flight  *inflight.Transfer // its progress, for the console
}

func (u *upload) Read([]byte) (int, error) { return 0, errors.New("write-only") }

func (u *upload) Seek(off int64, whence int) (int64, error) {
	if u.part != nil {
		return u.part.File().Seek(off, whence)
	}
	return 0, nil
}

func (u *upload) Write(p []byte) (int, error) {
	if err := u.check(int64(len(p))); err != nil {
		return 0, err
	}
	var n int
	var err error
	if u.part != nil {
		n, err = u.part.Write(p)
	} else {
		n, err = u.anon.Write(p)
	}
	u.written += int64(n)
	u.flight.Add(int64(n))
	return n, storeErr(err)
}

func (u *upload) check(more int64) error {
	if max := u.d.srv.conf().MaxUploadSize; max > 0 && u.start+u.written+more > max {
		return images.ErrTooLarge
	}
	return nil
}

// ReadFrom receives from the data connection. Both a named user's partial
// file and an anonymous upload take it with ReadFrom, which splices from
// the socket into the file. The read deadline is refreshed between chunks
// so a stalled client times out.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	if u.ascii {
		return u.readASCII(r)
	}
	var dst io.ReaderFrom = u.anon
	if u.part != nil {
		dst = u.part
	}
	dl, _ := r.(interface{ SetReadDeadline(time.Time) error })
	var total int64
	for {
		if dl != nil {
			dl.SetReadDeadline(time.Now().Add(u.d.srv.conf().Limits.DataTimeout))
		}
		n, err := dst.ReadFrom(&io.LimitedReader{R: r, N: chunk})
		total += n
		u.written += n
		u.flight.Add(n)
		if err == nil && u.check(0) != nil {
			err = images.ErrTooLarge
		}
		if err == nil && n < chunk {
			u.eof = time.Now()
		}
		if err != nil || n < chunk {
			return total, storeErr(err)
		}
	}
}

// readASCII receives a TYPE A upload, storing CRLF line ends as LF, with
// the read deadline refreshed before each read, as for binary.
func (u *upload) readASCII(r io.Reader) (int64, error) {
	dl, _ := r.(interface{ SetReadDeadline(time.Time) error })
	in := make([]byte, asciiChunk)
	out := make([]byte, 0, asciiChunk+1)
	var cr bool
	var total int64
	for {
		if dl != nil {
			dl.SetReadDeadline(time.Now().Add(u.d.srv.conf().Limits.DataTimeout))
		}
		n, rerr := r.Read(in)
		total += int64(n)
		out = fromCRLF(out[:0], in[:n], &cr)
		if rerr == io.EOF && cr {
			out = append(out, '\r') // a last CR that no LF followed
		}
		if len(out) > 0 {
			if _, err := u.Write(out); err != nil {
				return total, err
			}
		}
		switch {
		case rerr == io.EOF:
			u.eof = time.Now()
			return total, nil
		case rerr != nil:
			return total, rerr
		}
	}
}

// storeErr maps file-system errors met while writing to store sentinels.
func storeErr(err error) error {
	if err != nil && isNoSpace(err) && !errors.Is(err, images.ErrNoSpace) {
		return fmt.Errorf("%w: %w", images.ErrNoSpace, err)
	}
	return err
}

func isNoSpace(err error) bool {
	return errors.Is(err, images.ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// lockUpload claims a partial name so two sessions of one user cannot
// write the same partial file at once.
func (s *Server) lockUpload(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uploading[key] {
		return false
	}
	s.uploading[key] = true
	return true
}

func (s *Server) unlockUpload(key string) {
	s.mu.Lock()
	delete(s.uploading, key)
	s.mu.Unlock()
}

// TransferError is called by the library when the transfer failed or was
// aborted; the upload is then not committed.
func (u *upload) TransferError(err error) {
	u.failed = err
	if errors.Is(err, images.ErrNoSpace) || errors.Is(err, images.ErrTooLarge) || isNoSpace(err) {
		u.d.sess.setOverride(replyFor(storeErr(err)))
	} else {
		u.d.sess.setOverride(reply{426, "Connection closed; transfer aborted."})
	}
}

func (u *upload) Close() error {
	n := u.written
	err := u.failed
	switch {
	case err != nil:
	case u.eof.IsZero():
		// Closed without the data connection ever ending cleanly
		// (every transfer goes through ReadFrom, even an empty one):
		// nothing says the file is complete.
		err = errNotComplete
	default:
		err = u.complete(u.eof)
	}
	var cerr error
	switch {
	case err == nil && u.part != nil:
		cerr = u.part.Commit(u.d.srv.conf().AllowOverwrite)
	case err == nil:
		cerr = u.anon.Commit()
	case u.anon != nil:
		cerr = u.anon.Abort() // no resume for anonymous users
	case resumable(err):
		cerr = u.part.Close()
	default:
		cerr = u.part.Discard()
	}
	if err == nil && cerr == nil {
		u.flight.Uploaded(u.name)
	} else {
		u.flight.Done()
	}
	result := "ok"
	switch {
	case errors.Is(err, errNotComplete):
		result = "interrupted"
	case err != nil:
		result = "error"
	case cerr != nil:
		result, err = "error", cerr
		u.d.fail("commit", u.name, cerr)
	}
	if err != nil && u.failed == nil {
		// The library reports Close's error as the transfer's reply.
		u.d.sess.setOverride(replyFor(err))
	}
	// Unlocked before finish ends the transfer's flight, so that a client
	// resuming after it finds the name free.
	u.d.srv.unlockUpload(u.key)
	u.d.finish("upload", u.name, n, u.began, result, err)
	return err
}
