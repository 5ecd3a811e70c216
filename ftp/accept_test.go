package ftp

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// failingListener fails its first Accepts with errs, then accepts.
type failingListener struct {
	net.Listener
	errs chan error
}

func (l *failingListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		return nil, err
	default:
		return l.Listener.Accept()
	}
}

// SetDeadline passes through, so that stopping the server can wake the
// Accept it is blocked in (listener.Unowned).
func (l *failingListener) SetDeadline(t time.Time) error {
	return l.Listener.(interface{ SetDeadline(time.Time) error }).SetDeadline(t)
}

func acceptErrno(e syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", e)}
}

// TestAcceptErrorsAreRetried: running out of descriptors, an aborted
// handshake, even an unknown accept error, never stops the server; each
// is counted, and the next client is served.
func TestAcceptErrorsAreRetried(t *testing.T) {
	errs := []error{acceptErrno(syscall.EMFILE), acceptErrno(syscall.EMFILE), acceptErrno(syscall.ENFILE),
		acceptErrno(syscall.ECONNABORTED), acceptErrno(syscall.EINVAL)}
	ch := make(chan error, len(errs))
	for _, e := range errs {
		ch <- e
	}
	ts := newTestServerWith(t, Config{}, map[string]string{"a": "a"}, testOptions{wrap: func(ln net.Listener) net.Listener {
		return &failingListener{Listener: ln, errs: ch}
	}})
	c := ts.dial(t) // served once the errors are used up
	c.login("anonymous", "x")
	if got := c.retr("a"); string(got) != "a" {
		t.Fatalf("RETR = %q", got)
	}
	if got := testutil.ToFloat64(ts.srv.m.acceptErrors); got != float64(len(errs)) {
		t.Fatalf("bootsrv_ftp_accept_errors_total = %v, want %d", got, len(errs))
	}
}

// TestIdleFloodDoesNotStarve: connections that never log in are capped
// per address and closed at login_timeout; a client from another address
// is served meanwhile.
func TestIdleFloodDoesNotStarve(t *testing.T) {
	ts := newTestServer(t, Config{Limits: Limits{MaxSessionsPerIP: 3, LoginTimeout: 500 * time.Millisecond}},
		map[string]string{"a": "a"})
	flood := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var idle []*client
	for i := range 4 {
		nc, err := flood.Dial("tcp", ts.addr)
		if err != nil {
			t.Skipf("cannot dial from 127.0.0.2: %v", err)
		}
		fc := wrapClient(t, nc)
		if i == 3 {
			fc.expect(421) // over the per-address cap
			break
		}
		fc.expect(220)
		idle = append(idle, fc)
	}
	c := ts.dial(t) // 127.0.0.1: its own allowance
	c.login("anonymous", "x")
	c.cmd(200, "NOOP")
	for _, ic := range idle {
		ic.expect(421) // Login timeout
		ic.expectClose(10 * time.Second)
	}
	c.cmd(200, "NOOP")
}
