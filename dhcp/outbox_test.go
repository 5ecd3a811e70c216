package dhcp

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/ipv4"
)

// mmsgConn takes batches as sendmmsg does: it sends datagrams in order
// and stops at the first it cannot send, whose error comes only when the
// batch starts with it.
type mmsgConn struct {
	net.PacketConn
	mu     sync.Mutex
	sent   [][]byte
	calls  int
	failAt int // index of the datagram (over all calls) that fails; -1: none
	tried  int
}

func (c *mmsgConn) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	for i, m := range ms {
		if c.tried == c.failAt {
			if i > 0 {
				return i, nil
			}
			c.failAt = -1 // fails once
			c.tried++
			return -1, &net.OpError{Op: "write", Net: "udp", Err: syscall.EPERM}
		}
		c.tried++
		c.sent = append(c.sent, append([]byte(nil), m.Buffers[0]...))
	}
	return len(ms), nil
}

// TestOutboxBatchWithAFailure: three OFFERs go out in one sendmmsg; the
// one the kernel refuses is counted and logged, the others go and count
// as replies.
func TestOutboxBatchWithAFailure(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	conn := &mmsgConn{failAt: 1}
	out := ts.newOutbox(conn)
	var xids []dhcpv4.TransactionID
	for i := range 3 {
		d := discover(net.HardwareAddr{0x52, 0x54, 0, 0x1d, 0, byte(i)}.String())
		xids = append(xids, d.TransactionID)
		ts.dispatch(ts.newWork(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 99), Port: 68}, d.ToBytes()), out, nil)
	}
	out.flush()
	if conn.calls != 3 || len(conn.sent) != 2 {
		t.Fatalf("%d sendmmsg calls, %d datagrams sent; want 3 calls (all, the failed one, the rest), 2 sent", conn.calls, len(conn.sent))
	}
	for i, want := range []dhcpv4.TransactionID{xids[0], xids[2]} {
		m, err := dhcpv4.FromBytes(conn.sent[i])
		if err != nil || m.TransactionID != want || m.MessageType() != dhcpv4.MessageTypeOffer {
			t.Fatalf("datagram %d: %v %v, want the OFFER for %s", i, m, err, want)
		}
	}
	if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("send_failed")); v != 1 {
		t.Errorf("send_failed drops %v, want 1", v)
	}
	if v := testutil.ToFloat64(ts.m.replies.WithLabelValues("offer")); v != 2 {
		t.Errorf("offers counted %v, want 2", v)
	}
}

// TestPendingCommitsHoldHandlers: a REQUEST whose commit is queued holds
// a place in max_handlers and in Shutdown's wait until its ACK is out;
// with every place taken, the next REQUEST is dropped as busy.
func TestPendingCommitsHoldHandlers(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxHandlers = 1
	ts := newTestServer(t, cfg)
	o1, _ := ts.exchange(discover("52:54:00:1e:00:01"))
	o2, _ := ts.exchange(discover("52:54:00:1e:00:02"))
	held, release := make(chan struct{}), make(chan struct{})
	ts.store.(*boltStore).failCommit = func() error {
		close(held)
		<-release
		return nil
	}
	peer := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 99), Port: 68}
	out, acks := ts.newOutbox(ts.conn), ts.ackOutbox(ts.conn)
	n := len(ts.conn.sent)
	ts.dispatch(ts.newWork(peer, requestFor(o1).ToBytes()), out, acks)
	<-held // the committer is writing the first REQUEST's lease
	ts.dispatch(ts.newWork(peer, requestFor(o2).ToBytes()), out, acks)
	out.flush()
	if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("busy")); v != 1 {
		t.Errorf("busy drops %v, want 1", v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with a commit pending: %v, want it to wait", err)
	}
	close(release)
	sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := ts.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if len(ts.conn.sent) != n+1 || ts.conn.sent[n].msg.MessageType() != dhcpv4.MessageTypeAck ||
		ts.conn.sent[n].msg.TransactionID != o1.TransactionID {
		t.Fatalf("sent %d, want the first REQUEST's ACK only", len(ts.conn.sent)-n)
	}
}
