package dhcp

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// BenchmarkExchange6 is one SOLICIT/ADVERTISE, REQUEST/REPLY exchange of
// a new client through the handler: with the lease committed to the bbolt
// file (few commits share an fsync: the benchmark runs GOMAXPROCS clients),
// and with a store that keeps nothing, for the CPU cost alone.
func BenchmarkExchange6(b *testing.B) {
	b.Run("bbolt", func(b *testing.B) { benchExchange6(b, false) })
	b.Run("cpu", func(b *testing.B) { benchExchange6(b, true) })
}

// nullStore commits instantly and keeps nothing.
type nullStore struct{ LeaseStore }

func (nullStore) Commit(context.Context, time.Time, ...Change) error { return nil }
func (nullStore) Close() error                                       { return nil }

func benchExchange6(b *testing.B, cpu bool) {
	cfg := testConfig6(b)
	cfg.Pools[0].Range = "fd00::1:0-fd00::ffff:ffff"
	cfg.RateLimit = RateLimit{PerClient: RateOff, Global: RateOff}
	s, err := New6(cfg, nil, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if cpu {
		s.store.Close()
		s.store = nullStore{}
	}
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
			adv, err := strictParse6(out)
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
