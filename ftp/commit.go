package ftp

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/bootsrv/bootsrv/images"
)

// An upload is committed only when it really completed. In stream mode
// the end of the file is the end of the data connection (RFC 959 §3.4.1),
// so a client killed mid-transfer (kill -9, a crash) looks, on the data
// connection, exactly like one that finished: its kernel closes the data
// socket with a FIN. What tells them apart is the control connection,
// which the same kernel closes in the same instant; a client that finished
// keeps it open for the 226. So after the data connection's EOF the
// upload is fsynced first (it must be before it becomes visible anyway),
// then the control socket is asked whether the client hung up
// (waitHangup), and only then is the file linked into place.
//
// Over one path the control connection's FIN arrives together with the
// data connection's, usually first (it is the client's older descriptor,
// closed first). The grace covers paths that reorder two flows: from the
// data EOF, two round trips of the control connection, at least
// minCommitGrace and at most maxCommitGrace. The fsync runs inside it, so
// an upload whose fsync takes longer pays nothing more; a small upload
// pays at most the grace before its 226.
const (
	minCommitGrace = 20 * time.Millisecond
	maxCommitGrace = 250 * time.Millisecond
)

// errSyncFailed marks an upload whose data could not be flushed; it is
// not kept for resume, since what it holds is not known.
var errSyncFailed = errors.New("flushing the upload failed")

func commitGrace(rtt time.Duration) time.Duration {
	return min(max(2*rtt, minCommitGrace), maxCommitGrace)
}

// complete decides, for an upload whose data connection ended with a
// clean EOF at eof, whether it completed: it flushes the data, then checks
// that the client is still there (see above).
func (u *upload) complete(eof time.Time) error {
	var err error
	if u.part != nil {
		err = u.part.Sync()
	} else {
		err = u.anon.Sync()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errSyncFailed, storeErr(err))
	}
	if u.d.sess.controlGone(eof) {
		return errNotComplete
	}
	return nil
}

// controlGone reports whether the client's control connection has been
// closed or reset, waiting until the commit grace after eof for that to
// happen. It looks at the socket itself (session.raw, also under TLS)
// rather than at the session's reader, which may not have run yet.
func (s *session) controlGone(eof time.Time) bool {
	if s.closed.Load() {
		return true
	}
	sc, ok := s.raw.(syscall.Conn)
	if !ok {
		return false // not a socket (tests): the session's view is all there is
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := true
	cerr := rc.Control(func(fd uintptr) {
		grace := commitGrace(smoothedRTT(int(fd)))
		gone = waitHangup(int(fd), time.Until(eof.Add(grace)))
	})
	return gone || cerr != nil || s.closed.Load()
}

// resumable reports whether a named user's upload that ended with err is
// kept for a resume: yes when the transfer was cut (network error, ABOR,
// data timeout, client gone), not when it went past the size cap or its
// data could not be flushed.
func resumable(err error) bool {
	return !errors.Is(err, images.ErrTooLarge) && !errors.Is(err, errSyncFailed)
}
