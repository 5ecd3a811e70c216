package dhcp

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// flakyConn fails its first reads with errs, then reads conn; with
// forever set, every read fails.
type flakyConn struct {
	net.PacketConn
	mu      sync.Mutex
	errs    []error
	forever error
	failed  chan struct{} // one value per failed read, when not nil
}

func (c *flakyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	err := c.forever
	if len(c.errs) > 0 {
		err, c.errs = c.errs[0], c.errs[1:]
	}
	c.mu.Unlock()
	if err == nil {
		return c.PacketConn.ReadFrom(b)
	}
	if c.failed != nil {
		select {
		case c.failed <- struct{}{}:
		default:
		}
	}
	return 0, nil, err
}

// readErr is a socket read error as the net package returns it.
func readErr(errno syscall.Errno) error {
	return &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", errno)}
}

func transientErrors() []error {
	return []error{readErr(syscall.ENOBUFS), readErr(syscall.ENOMEM), readErr(syscall.EINTR),
		readErr(syscall.ECONNREFUSED), readErr(syscall.ENETDOWN)}
}

func listenLocal(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestServeSurvivesReadErrors: transient read errors are counted and
// retried; the next datagram is answered; only closing the socket ends
// Serve.
func TestServeSurvivesReadErrors(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	real, cli := listenLocal(t), listenLocal(t)
	ts.redirect = func(*net.UDPAddr) *net.UDPAddr { return cli.LocalAddr().(*net.UDPAddr) }
	done := make(chan error, 1)
	go func() { done <- ts.Serve(context.Background(), &flakyConn{PacketConn: real, errs: transientErrors()}) }()
	d := discover("52:54:00:1c:00:01")
	if _, err := cli.WriteTo(d.ToBytes(), real.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := cli.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no offer after read errors: %v", err)
	}
	if o, err := dhcpv4.FromBytes(buf[:n]); err != nil || o.TransactionID != d.TransactionID {
		t.Fatalf("reply %v %v", o, err)
	}
	if v := testutil.ToFloat64(ts.m.readErrors.WithLabelValues("dhcp")); v != 5 {
		t.Errorf("read_errors_total{socket=dhcp} = %v", v)
	}
	real.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on a closed socket: %v", err)
	}
}

// TestReadLoopsRetry: the PXE port and the rogue listener share the retry.
func TestReadLoopsRetry(t *testing.T) {
	tests := map[string]struct {
		cfg   func(testing.TB) Config
		serve func(s *Server, ctx context.Context, c net.PacketConn) error
	}{
		"pxe":    {cfg: func(testing.TB) Config { return proxyConfig() }, serve: (*Server).ServePXE},
		"client": {cfg: testConfig, serve: (*Server).WatchOtherServers},
	}
	for sock, tc := range tests {
		t.Run(sock, func(t *testing.T) {
			ts := newTestServer(t, tc.cfg(t))
			real := listenLocal(t)
			real.Close() // after the transient errors, the loop finds it closed
			err := tc.serve(ts.Server, context.Background(), &flakyConn{PacketConn: real, errs: transientErrors()})
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("got %v, want the closed socket's error", err)
			}
			if v := testutil.ToFloat64(ts.m.readErrors.WithLabelValues(sock)); v != 5 {
				t.Errorf("read_errors_total{socket=%s} = %v", sock, v)
			}
		})
	}
}

// TestCancelDuringReadBackoff: cancelling ends Serve while it waits to
// retry a failing socket.
func TestCancelDuringReadBackoff(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	c := &flakyConn{PacketConn: listenLocal(t), forever: readErr(syscall.ENETDOWN), failed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx, c) }()
	for range 12 { // past the longest backoff
		<-c.failed
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}
