package dhcp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// BenchmarkExchange6 is one SOLICIT/ADVERTISE, REQUEST/REPLY exchange of
// a new client through the handler, with the lease committed to the
// bbolt file (group commit of one: a sequential benchmark fsyncs every
// lease).
func BenchmarkExchange6(b *testing.B) {
	cfg := testConfig6(b)
	cfg.Pools[0].Range = "fd00::1:0-fd00::ffff:ffff"
	cfg.RateLimit = RateLimit{PerClient: RateOff, Global: RateOff}
	s, err := New6(cfg, nil, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	sol := msg6(dhcpv6.MessageTypeSolicit, "52:54:00:00:00:01", netip.Addr{})
	sb := sol.ToBytes()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var n uint32
		buf := append([]byte(nil), sb...)
		for pb.Next() {
			n++
			// A new DUID-LL each time: the MAC's last bytes.
			binary.BigEndian.PutUint32(buf[14:], n^uint32(len(buf))<<24)
			out, _, _, _ := s.respond(buf, clientSrc)
			adv, _, err := parse6(out)
			if err != nil {
				b.Fatal(err)
			}
			req := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeRequest, TransactionID: adv.TransactionID}
			req.AddOption(adv.GetOneOption(dhcpv6.OptionClientID))
			req.AddOption(adv.GetOneOption(dhcpv6.OptionServerID))
			req.AddOption(adv.Options.OneIANA())
			if out, _, _, _ := s.respond(req.ToBytes(), clientSrc); out == nil {
				b.Fatal("no reply")
			}
		}
	})
}
