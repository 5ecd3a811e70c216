package listener

import (
	"errors"
	"net"
	"sync"
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

// Unowned returns ln with a Close that only stops it being used: a blocked
// Accept wakes (through a deadline in the past, when ln supports one) and
// every Accept from then on fails with net.ErrClosed, while the socket
// stays open for the one who owns it. Servers that are handed a listener
// use it so that stopping never closes what they were given. Only a
// listener with SetDeadline (every net listener has it) can be woken: a
// wrapper must pass it through.
func Unowned(ln net.Listener) net.Listener {
	return &unowned{Listener: ln, closed: make(chan struct{})}
}

type unowned struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (u *unowned) Accept() (net.Conn, error) {
	select {
	case <-u.closed:
		return nil, net.ErrClosed
	default:
	}
	c, err := u.Listener.Accept()
	select {
	case <-u.closed:
		if c != nil {
			c.Close()
		}
		return nil, net.ErrClosed
	default:
	}
	return c, err
}

func (u *unowned) Close() error {
	u.once.Do(func() {
		close(u.closed)
		if d, ok := u.Listener.(interface{ SetDeadline(time.Time) error }); ok {
			d.SetDeadline(time.Unix(1, 0))
		}
	})
	return nil
}
