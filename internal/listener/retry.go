package listener

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Backoff bounds of Retry: the first wait after a transient error, doubled
// on each error in a row up to the longest (net/http uses 5ms and 1s).
const (
	firstBackoff = 5 * time.Millisecond
	maxBackoff   = time.Second
)

// Retry returns ln with an Accept that retries transient errors. Each such
// error is passed to onError (nil: ignored) before the wait, so the caller
// can count it and log it, sampled. A permanent error, such as the
// listener being closed, is returned as it is.
func Retry(ln net.Listener, onError func(error)) net.Listener {
	if onError == nil {
		onError = func(error) {}
	}
	return &retrying{Listener: ln, onError: onError, sleep: time.Sleep}
}

type retrying struct {
	net.Listener
	onError func(error)
	sleep   func(time.Duration) // replaced by tests
}

func (l *retrying) Accept() (net.Conn, error) {
	var wait time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return c, nil
		}
		if !Transient(err) {
			return nil, err
		}
		l.onError(err)
		if wait == 0 {
			wait = firstBackoff
		} else {
			wait = min(2*wait, maxBackoff)
		}
		l.sleep(wait)
	}
}

// Transient reports whether an accept (or read) error is the kind that
// goes away by itself: the process or system ran out of descriptors or
// buffers, or the connection was reset before it was accepted. A closed
// listener is never transient.
func Transient(err error) bool {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
