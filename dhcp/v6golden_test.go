package dhcp

import (
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// goldenRequests6 seed testdata/v6-*.request.hex when -update is given
// and there is no file yet; after that the files are the source. The
// OVMF and iPXE ones carry what those clients send (client architecture,
// vendor and user class, ORO with option 59, rapid commit).
var goldenRequests6 = map[string]func() dhcpv6.DHCPv6{
	"v6-solicit-plain": func() dhcpv6.DHCPv6 { return msg6(dhcpv6.MessageTypeSolicit, "52:54:00:01:06:01", netip.Addr{}) },
	"v6-solicit-ovmf-pxe": func() dhcpv6.DHCPv6 {
		m := msg6(dhcpv6.MessageTypeSolicit, "52:54:00:01:06:02", netip.Addr{},
			dhcpv6.OptRequestedOption(dhcpv6.OptionBootfileURL, dhcpv6.OptionBootfileParam, dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionVendorClass),
			dhcpv6.OptClientArchType(iana.EFI_X86_64),
			&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionNII, OptionData: []byte{1, 3, 0}},
			&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("PXEClient:Arch:00007:UNDI:003016")}},
			&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
		m.UpdateOption(dhcpv6.OptClientID(&dhcpv6.DUIDUUID{UUID: [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}))
		return m
	},
	"v6-solicit-ovmf-http": func() dhcpv6.DHCPv6 {
		return msg6(dhcpv6.MessageTypeSolicit, "52:54:00:01:06:03", netip.Addr{},
			dhcpv6.OptRequestedOption(dhcpv6.OptionBootfileURL, dhcpv6.OptionVendorClass),
			dhcpv6.OptClientArchType(iana.EFI_X86_64_HTTP),
			&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("HTTPClient:Arch:00016:UNDI:003000")}})
	},
	"v6-solicit-ipxe-rapid": func() dhcpv6.DHCPv6 {
		return msg6(dhcpv6.MessageTypeSolicit, "52:54:00:01:06:04", netip.Addr{},
			dhcpv6.OptRequestedOption(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList, dhcpv6.OptionBootfileURL),
			dhcpv6.OptClientArchType(iana.EFI_X86_64),
			&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("iPXE")}},
			&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	},
	"v6-solicit-reserved": func() dhcpv6.DHCPv6 { return msg6(dhcpv6.MessageTypeSolicit, "52:54:00:00:00:50", netip.Addr{}) },
	"v6-relay-forw-solicit": func() dhcpv6.DHCPv6 {
		r, _ := dhcpv6.EncapsulateRelay(msg6(dhcpv6.MessageTypeSolicit, "52:54:00:01:06:05", netip.Addr{}),
			dhcpv6.MessageTypeRelayForward, net.ParseIP("fd01::1"), net.ParseIP("fe80::5054:ff:fe01:605"))
		r.AddOption(dhcpv6.OptInterfaceID([]byte("ge-0/0/7")))
		return r
	},
	"v6-information-request": func() dhcpv6.DHCPv6 {
		m := msg6(dhcpv6.MessageTypeInformationRequest, "52:54:00:01:06:06", netip.Addr{},
			dhcpv6.OptRequestedOption(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList))
		m.Options.Del(dhcpv6.OptionIANA)
		return m
	},
}

func TestGoldenPackets6(t *testing.T) {
	for name, mk := range goldenRequests6 {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".request.hex")
			if _, err := os.Stat(path); os.IsNotExist(err) && *update {
				writeHex(t, path, mk().ToBytes())
			}
			ts := newTestServer6(t, testConfig6(t))
			out, dst, _, _ := ts.respond(readHex(t, path), clientSrc)
			if out == nil {
				t.Fatal("no reply")
			}
			reply := filepath.Join("testdata", name+".reply.hex")
			got := dst.String() + "\n" + hex.Dump(out)
			if *update {
				if err := os.WriteFile(reply, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(reply)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				m, _ := strictParse6(out)
				t.Errorf("reply differs from %s (run with -update after checking):\n%s\nsummary: %s", reply, got, m.Summary())
			}
		})
	}
}

// sink6 is a PacketConn that keeps what the server writes.
type sink6 struct {
	net.PacketConn
	mu   sync.Mutex
	sent [][]byte
}

func (c *sink6) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, append([]byte(nil), b...))
	return len(b), nil
}

// FuzzHandle6 feeds arbitrary datagrams to the DHCPv6 handler: it must
// never panic (the handler's recover would count drops{reason="panic"}),
// and every reply must parse.
func FuzzHandle6(f *testing.F) {
	files, _ := filepath.Glob("testdata/v6-*.request.hex")
	for _, p := range files {
		f.Add(readHex(f, p))
	}
	f.Add([]byte{12, 0})
	ts := newTestServer6(f, testConfig6(f))
	conn := &sink6{}
	peer := netip.MustParseAddrPort("[fe80::1%lo]:546")
	f.Fuzz(func(t *testing.T, b []byte) {
		ts.handlePacket(conn, peer, b)
		if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("panic")); v != 0 {
			t.Fatalf("handler panicked on %x", b)
		}
		conn.mu.Lock()
		defer conn.mu.Unlock()
		for _, out := range conn.sent {
			if _, err := strictParse6(out); err != nil {
				t.Fatalf("reply to %x does not parse: %v", b, err)
			}
		}
		conn.sent = conn.sent[:0]
	})
}
