package listener

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// fakeListener returns the queued errors, then the queued connections,
// then net.ErrClosed.
type fakeListener struct {
	errs  []error
	conns []net.Conn
}

func (f *fakeListener) Accept() (net.Conn, error) {
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	if len(f.conns) > 0 {
		c := f.conns[0]
		f.conns = f.conns[1:]
		return c, nil
	}
	return nil, net.ErrClosed
}
func (f *fakeListener) Close() error   { return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

func TestRetryWaitsOutTransientErrors(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	fl := &fakeListener{
		errs:  []error{acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE), acceptErr(syscall.ENOBUFS), acceptErr(syscall.ECONNABORTED)},
		conns: []net.Conn{c1},
	}
	var seen []error
	var waits []time.Duration
	ln := Retry(fl, func(err error) { seen = append(seen, err) }).(*retrying)
	ln.sleep = func(d time.Duration) { waits = append(waits, d) }
	c, err := ln.Accept()
	if err != nil || c != c1 {
		t.Fatalf("Accept = %v, %v; want the queued connection", c, err)
	}
	if len(seen) != 4 {
		t.Fatalf("onError saw %d errors, want 4", len(seen))
	}
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits = %v, want %v", waits, want)
		}
	}
	// The backoff starts again after a success.
	fl.errs = []error{acceptErr(syscall.EMFILE)}
	fl.conns = []net.Conn{c2}
	if _, err := ln.Accept(); err != nil {
		t.Fatal(err)
	}
	if got := waits[len(waits)-1]; got != firstBackoff {
		t.Fatalf("first wait after a success = %v, want %v", got, firstBackoff)
	}
}

func TestRetryBackoffIsCapped(t *testing.T) {
	fl := &fakeListener{}
	for range 20 {
		fl.errs = append(fl.errs, acceptErr(syscall.EMFILE))
	}
	var last time.Duration
	ln := Retry(fl, nil).(*retrying)
	ln.sleep = func(d time.Duration) { last = d }
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after the errors = %v, want net.ErrClosed", err)
	}
	if last != maxBackoff {
		t.Fatalf("last wait = %v, want the cap %v", last, maxBackoff)
	}
}

func TestRetryReturnsPermanentErrors(t *testing.T) {
	perm := errors.New("broken")
	ln := Retry(&fakeListener{errs: []error{perm}}, func(error) { t.Error("a permanent error is not retried") })
	if _, err := ln.Accept(); err != perm {
		t.Fatalf("Accept = %v, want %v", err, perm)
	}
}

func TestTransient(t *testing.T) {
	tests := map[string]struct {
		err  error
		want bool
	}{
		"EMFILE":       {acceptErr(syscall.EMFILE), true},
		"ENFILE":       {acceptErr(syscall.ENFILE), true},
		"ENOBUFS":      {acceptErr(syscall.ENOBUFS), true},
		"ENOMEM":       {acceptErr(syscall.ENOMEM), true},
		"ECONNABORTED": {acceptErr(syscall.ECONNABORTED), true},
		"closed":       {net.ErrClosed, false},
		"EBADF":        {acceptErr(syscall.EBADF), false},
		"nil":          {nil, false},
		"plain":        {errors.New("x"), false},
	}
	for name, tc := range tests {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("%s: Transient = %v, want %v", name, got, tc.want)
		}
	}
}

// dial opens n connections to ln from 127.0.0.1.
func dial(t *testing.T, ln net.Listener, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

// readRefusal reads what the server wrote before closing a connection.
func readRefusal(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	return string(b)
}

func TestLimitCaps(t *testing.T) {
	tests := map[string]struct {
		lim      Limits
		dial     int
		accepted int
		reason   string
	}{
		"per ip": {Limits{PerIP: 2}, 3, 2, ReasonPerIP},
		"total":  {Limits{Total: 3, PerIP: 10}, 4, 3, ReasonTotal},
		"no cap": {Limits{}, 5, 5, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			tc.lim.Refuse = func(c net.Conn, reason string) { io.WriteString(c, reason) }
			ln := Limit(raw, tc.lim)
			clients := dial(t, ln, tc.dial)
			var served []net.Conn
			for range tc.accepted {
				c, err := ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				served = append(served, c)
			}
			if got := Open(ln); got != tc.accepted {
				t.Fatalf("Open = %d, want %d", got, tc.accepted)
			}
			if tc.reason == "" {
				return
			}
			// The next Accept refuses the extra client, then hands out
			// a new one once a slot is free again.
			done := make(chan net.Conn)
			go func() {
				c, _ := ln.Accept()
				done <- c
			}()
			if got := readRefusal(t, clients[tc.accepted]); got != tc.reason {
				t.Fatalf("refusal = %q, want %q", got, tc.reason)
			}
			served[0].Close()
			served[0].Close() // idempotent: counts once
			dial(t, ln, 1)
			c := <-done
			if c == nil {
				t.Fatal("no connection after a slot was freed")
			}
			defer c.Close()
			if got := Open(ln); got != tc.accepted {
				t.Fatalf("Open after close and accept = %d, want %d", got, tc.accepted)
			}
		})
	}
}

func TestLimitKeepsReadFrom(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ln := Limit(raw, Limits{PerIP: 1})
	cl := dial(t, ln, 1)[0]
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rf, ok := c.(io.ReaderFrom)
	if !ok {
		t.Fatal("a limited *net.TCPConn must keep ReadFrom (sendfile)")
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("hello")
	f.Seek(0, io.SeekStart)
	if n, err := rf.ReadFrom(f); err != nil || n != 5 {
		t.Fatalf("ReadFrom = %d, %v", n, err)
	}
	c.Close()
	if got := readRefusal(t, cl); got != "hello" {
		t.Fatalf("client read %q", got)
	}
}

// TestUnowned: Close wakes a blocked Accept and fails later ones, and the
// socket stays open for its owner.
func TestUnowned(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ln := Unowned(raw)
	errc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	ln.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a later Accept = %v", err)
	}
	// The socket is still listening: a dial completes (the kernel's backlog).
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatalf("the listener was closed: %v", err)
	}
	c.Close()
}
