package dhcp

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// benchServer is a server whose one big relayed pool does not run out
// during a benchmark. The clock stands still here: a global bucket would
// empty after its burst and the rest would measure drops. The per-client
// limiter (a new client each time, so its LRU fills and evicts) stays on.
func benchServer(b *testing.B) *testServer {
	cfg := testConfig(b)
	cfg.Pools[1] = Pool{Subnet: "10.64.0.0/10", Range: "10.64.1.0-10.127.255.250"}
	cfg.RateLimit.Global = RateOff
	return newTestServer(b, cfg)
}

var benchRelay = &net.UDPAddr{IP: net.IPv4(10, 64, 0, 2), Port: 67}

// BenchmarkDiscover measures the CPU cost of one relayed DISCOVER -> OFFER,
// each from a new client, without sockets, as the read loop answers it.
func BenchmarkDiscover(b *testing.B) {
	ts := benchServer(b)
	out := ts.newOutbox(discardConn{})
	d := discover("02:00:00:00:00:00", dhcpv4.WithRelay(net.IPv4(10, 64, 0, 2))).ToBytes()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint32(d[30:], uint32(i)) // chaddr is at 28
		ts.dispatch(ts.newWork(benchRelay, d), out, nil)
		out.flush()
	}
}

// BenchmarkDORA measures one relayed DISCOVER -> OFFER, REQUEST -> ACK
// exchange of a new client, the lease committed (and fsynced) to the lease
// file, as Serve answers them: what perfdhcp asks of the server. Building
// the client's packets is outside the count: they are patched copies of
// two templates.
func BenchmarkDORA(b *testing.B) {
	ts := benchServer(b)
	relay := dhcpv4.WithRelay(net.IPv4(10, 64, 0, 2))
	disc := discover("02:00:00:00:00:00", relay).ToBytes()
	offer := &captureConn{}
	out, acks := ts.newOutbox(offer), ts.newOutbox(&captureConn{sent: make(chan struct{}, 1)})
	ts.handlePacket(offer, benchRelay, disc)
	o, err := dhcpv4.FromBytes(offer.last)
	if err != nil {
		b.Fatal(err)
	}
	req := requestFor(o, relay).ToBytes()
	opt50 := optionOffset(b, req, dhcpv4.OptionRequestedIPAddress.Code())
	b.ReportAllocs()
	n := 0
	for i := 1; b.Loop(); i++ {
		n++
		// chaddr is at offset 28 (RFC 2131 §2), yiaddr at 16.
		binary.BigEndian.PutUint32(disc[30:], uint32(i))
		ts.dispatch(ts.newWork(benchRelay, disc), out, acks)
		out.flush()
		binary.BigEndian.PutUint32(req[30:], uint32(i))
		copy(req[opt50:opt50+4], offer.last[16:20])
		ts.dispatch(ts.newWork(benchRelay, req), out, acks)
		out.flush()
		<-acks.conn.(*captureConn).sent
	}
	if acks := testutil.ToFloat64(ts.m.replies.WithLabelValues("ack")); int(acks) != n {
		b.Fatalf("%v ACKs for %d exchanges", acks, n)
	}
}

// optionOffset is where the value of option code starts in the DHCP
// packet p.
func optionOffset(tb testing.TB, p []byte, code uint8) int {
	for i := 240; i+1 < len(p); {
		switch p[i] {
		case 0:
			i++
			continue
		case 255:
			i = len(p)
			continue
		case code:
			return i + 2
		}
		i += 2 + int(p[i+1])
	}
	tb.Fatalf("option %d not in the packet", code)
	return 0
}

type discardConn struct{ net.PacketConn }

func (discardConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }

// captureConn keeps a copy of the last datagram written, and signals
// each on sent when it is set.
type captureConn struct {
	net.PacketConn
	last []byte
	sent chan struct{}
}

func (c *captureConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.last = append(c.last[:0], b...)
	if c.sent != nil {
		c.sent <- struct{}{}
	}
	return len(b), nil
}
