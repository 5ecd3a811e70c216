package dhcp

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/ipv4"
)

// batchSpy is a UDP socket read in batches (recvmmsg) that records the
// size of each batch, and fails its first reads with errs.
type batchSpy struct {
	*net.UDPConn
	pc      *ipv4.PacketConn
	mu      sync.Mutex
	sizes   []int
	errs    []error
	reading chan struct{} // a value each time a read reaches the socket
}

func newBatchSpy(t *testing.T) *batchSpy {
	c := listenLocal(t).(*net.UDPConn)
	return &batchSpy{UDPConn: c, pc: ipv4.NewPacketConn(c), reading: make(chan struct{}, 1)}
}

func (b *batchSpy) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	b.mu.Lock()
	if len(b.errs) > 0 {
		err := b.errs[0]
		b.errs = b.errs[1:]
		b.mu.Unlock()
		return 0, err
	}
	b.mu.Unlock()
	select {
	case b.reading <- struct{}{}:
	default:
	}
	n, err := b.pc.ReadBatch(ms, flags)
	b.mu.Lock()
	b.sizes = append(b.sizes, n)
	b.mu.Unlock()
	return n, err
}

func (b *batchSpy) largest() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Max(append(b.sizes, 0))
}

// serving runs ts.Serve on conn until the test ends, with every reply
// redirected to the returned client socket.
func serving(t *testing.T, ts *testServer, conn net.PacketConn) (net.PacketConn, *served) {
	cli := listenLocal(t)
	ts.redirect = func(*net.UDPAddr) *net.UDPAddr { return cli.LocalAddr().(*net.UDPAddr) }
	ctx, cancel := context.WithCancel(context.Background())
	sv := &served{t: t, ts: ts, cancel: cancel, done: make(chan error, 1)}
	go func() { sv.done <- ts.Serve(ctx, conn) }()
	t.Cleanup(func() { sv.stop() })
	return cli, sv
}

type served struct {
	t      *testing.T
	ts     *testServer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// wait returns Serve's error once it has returned by itself, and lets
// Shutdown wait for the requests it took.
func (sv *served) wait() error {
	sv.once.Do(func() {
		sv.err = <-sv.done
		ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		if err := sv.ts.Shutdown(ctx); err != nil {
			sv.t.Errorf("Shutdown: %v", err)
		}
	})
	return sv.err
}

// stop cancels Serve and returns what wait returns.
func (sv *served) stop() error {
	sv.cancel()
	return sv.wait()
}

// replies reads n replies from cli, by transaction id.
func replies(t *testing.T, cli net.PacketConn, n int) map[dhcpv4.TransactionID]*dhcpv4.DHCPv4 {
	t.Helper()
	got := map[dhcpv4.TransactionID]*dhcpv4.DHCPv4{}
	buf := make([]byte, 1500)
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(got) < n {
		k, _, err := cli.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%d of %d replies: %v", len(got), n, err)
		}
		m, err := dhcpv4.FromBytes(buf[:k])
		if err != nil {
			t.Fatal(err)
		}
		if got[m.TransactionID] != nil {
			t.Fatalf("two replies to %s", m.TransactionID)
		}
		got[m.TransactionID] = m
	}
	return got
}

// TestServeReadsBatches: datagrams queued on the socket are read several
// at a time; a malformed one and a BOOTREPLY in the middle of a batch are
// dropped without disturbing the others; every DISCOVER gets its OFFER
// and every REQUEST, answered on goroutines of their own while the
// reader reuses its buffers, its ACK of the right address.
func TestServeReadsBatches(t *testing.T) {
	cfg := testConfig(t)
	cfg.Pools[0].Range = "10.0.0.10-10.0.0.250"
	ts := newTestServer(t, cfg)
	ts.now = time.Now
	srv := newBatchSpy(t)
	n := 2*readBatch + 5
	var discovers []*dhcpv4.DHCPv4
	sender := listenLocal(t)
	for i := range n {
		d := discover(net.HardwareAddr{0x52, 0x54, 0, 0x1b, byte(i >> 8), byte(i)}.String())
		discovers = append(discovers, d)
		if _, err := sender.WriteTo(d.ToBytes(), srv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 3:
			sender.WriteTo([]byte("not dhcp"), srv.LocalAddr())
		case 7:
			reply := discover("52:54:00:1b:ff:ff")
			reply.OpCode = dhcpv4.OpcodeBootReply
			sender.WriteTo(reply.ToBytes(), srv.LocalAddr())
		}
	}
	cli, sv := serving(t, ts, srv)
	offers := replies(t, cli, n)
	if srv.largest() < 2 {
		t.Errorf("largest batch %d: queued datagrams were read one by one", srv.largest())
	}
	if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("malformed")); v != 2 {
		t.Errorf("malformed drops %v, want 2", v)
	}
	for _, d := range discovers {
		if o := offers[d.TransactionID]; o == nil || o.MessageType() != dhcpv4.MessageTypeOffer {
			t.Fatalf("no offer for %s", d.ClientHWAddr)
		}
		req := requestFor(offers[d.TransactionID])
		if _, err := sender.WriteTo(req.ToBytes(), srv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	acks := replies(t, cli, n)
	seen := map[string]bool{}
	for _, d := range discovers {
		a, o := acks[d.TransactionID], offers[d.TransactionID]
		if a == nil || a.MessageType() != dhcpv4.MessageTypeAck || !a.YourIPAddr.Equal(o.YourIPAddr) || a.ClientHWAddr.String() != d.ClientHWAddr.String() {
			t.Fatalf("ack for %s: %v (offered %v)", d.ClientHWAddr, a, o.YourIPAddr)
		}
		if seen[a.YourIPAddr.String()] {
			t.Fatalf("%v acked twice", a.YourIPAddr)
		}
		seen[a.YourIPAddr.String()] = true
	}
	if err := sv.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if got := len(ts.Leases()); got != n {
		t.Errorf("%d leases, want %d", got, n)
	}
}

// TestServeBatchReadErrors: on the batch path too, transient read errors
// are counted and retried, and a closed socket ends Serve with its error.
func TestServeBatchReadErrors(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	srv := newBatchSpy(t)
	srv.errs = transientErrors()
	cli, sv := serving(t, ts, srv)
	d := discover("52:54:00:1c:00:02")
	if _, err := cli.WriteTo(d.ToBytes(), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if o := replies(t, cli, 1)[d.TransactionID]; o == nil {
		t.Fatal("no offer after read errors")
	}
	if v := testutil.ToFloat64(ts.m.readErrors.WithLabelValues("dhcp")); v != 5 {
		t.Errorf("read_errors_total{socket=dhcp} = %v", v)
	}
	srv.Close()
	if err := sv.wait(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on a closed socket: %v", err)
	}
}

// TestServeStopsWhileReading: cancelling ends Serve while it waits in a
// batch read, without closing the socket, which still works afterwards.
func TestServeStopsWhileReading(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	srv := newBatchSpy(t)
	_, sv := serving(t, ts, srv)
	<-srv.reading
	if err := sv.stop(); err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if _, err := srv.WriteTo([]byte("x"), srv.LocalAddr()); err != nil {
		t.Fatalf("socket closed by Serve: %v", err)
	}
}
