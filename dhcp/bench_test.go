package dhcp

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BenchmarkDiscover measures the CPU cost of one relayed DISCOVER -> OFFER,
// each from a new client, without sockets.
func BenchmarkDiscover(b *testing.B) {
	cfg := testConfig(b)
	cfg.Pools[1] = Pool{Subnet: "10.64.0.0/10", Range: "10.64.1.0-10.127.255.250"}
	// The clock stands still here: a global bucket would empty after its
	// burst and the rest would measure drops. The per-client limiter (a new
	// client each time, so its LRU fills and evicts) stays on.
	cfg.RateLimit.Global = RateOff
	ts := newTestServer(b, cfg)
	conn := &discardConn{}
	peer := &net.UDPAddr{IP: net.IPv4(10, 64, 0, 2), Port: 67}
	d := discover("02:00:00:00:00:00", dhcpv4.WithRelay(net.IPv4(10, 64, 0, 2)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint32(d.ClientHWAddr[2:], uint32(i))
		ts.handlePacket(conn, peer, d.ToBytes())
	}
}

type discardConn struct{ net.PacketConn }

func (discardConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
