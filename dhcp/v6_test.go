package dhcp

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// testConfig6 serves fd00::/64 locally and fd01::/64 through relays.
func testConfig6(t testing.TB) Config6 {
	return Config6{
		Mode: "server", Interface: "lo", ServerIP: "fd00::1", Preference: 255, RapidCommit: true,
		LeaseFile: filepath.Join(t.TempDir(), "leases6.db"), HTTPPort: 8080, ImagesPath: "/images/",
		Pools: []Pool6{
			{Subnet: "fd00::/64", Range: "fd00::100-fd00::1ff", DNS: []string{"fd00::53"}, Domain: StringList{"lab.example"}, LeaseTime: time.Hour},
			{Subnet: "fd01::/64", Range: "fd01::10-fd01::11", LeaseTime: 10 * time.Minute},
		},
		Hosts: []Host6{
			{DUID: "00:03:00:01:52:54:00:00:00:50", IP: "fd00::50", Hostname: "node1"},
			{MAC: "52:54:00:00:00:51", IP: "fd00::51", Hostname: "bymac"},
		},
		Boot: Boot6{EFI64: "snponly.efi", HTTP: "ipxe.efi", IPXE: "boot.ipxe", Params: []string{"console=ttyS0"}},
		Rules: []Rule{
			{Match: RuleMatch{VendorClass: "^Cisco"}, Bootfile: "ztp/cisco.py"},
			{Match: RuleMatch{CircuitID: "^rack7/"}, Bootfile: "rack7.cfg", TFTPServer: "fd00::69"},
		},
	}
}

type testServer6 struct {
	*Server6
	t     testing.TB
	reg   *prometheus.Registry
	clock time.Time
	rec   []event.Event
}

func newTestServer6(t testing.TB, cfg Config6) *testServer6 {
	t.Helper()
	ts := &testServer6{t: t, reg: prometheus.NewRegistry(), clock: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Events = event.SinkFunc(func(e event.Event) { ts.rec = append(ts.rec, e) })
	s, err := New6(cfg, nil, zerolog.Nop(), ts.reg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server6 = s
	s.now = func() time.Time { return ts.clock }
	t.Cleanup(func() { s.Close() })
	return ts
}

var clientSrc = netip.MustParseAddrPort("[fe80::5054:ff:fe00:102%lo]:546")

// exchange hands m to the handler as if from src and returns the reply
// (unwrapped from its RELAY-REPLs) and the relay messages around it.
func (ts *testServer6) exchange(m dhcpv6.DHCPv6, src netip.AddrPort) (*dhcpv6.Message, []relayHop) {
	ts.t.Helper()
	out, dst, r, o := ts.respond(m.ToBytes(), src)
	if out == nil {
		return nil, nil
	}
	ts.answered(r, o)
	if dst != src {
		ts.t.Errorf("reply to %v, want %v", dst, src)
	}
	_, hops, err := parse6(out)
	if err != nil {
		ts.t.Fatalf("reply does not parse: %v", err)
	}
	reply, err := strictParse6(out)
	if err != nil {
		ts.t.Fatalf("reply does not parse: %v", err)
	}
	return reply, hops
}

// strictParse6 parses a reply with every option decoded (parse6 keeps the
// ones the server does not read raw), unwrapping RELAY-REPLs.
func strictParse6(b []byte) (*dhcpv6.Message, error) {
	d, err := dhcpv6.FromBytes(b)
	if err != nil {
		return nil, err
	}
	return d.GetInnerMessage()
}

var testXID = dhcpv6.TransactionID{0xa1, 0xb2, 0xc3}

// msg6 is a client message of type t from the client with DUID-LL mac,
// with IA_NA iaid 1 (holding addr when valid) and opts.
func msg6(t dhcpv6.MessageType, mac string, addr netip.Addr, opts ...dhcpv6.Option) *dhcpv6.Message {
	hw, _ := net.ParseMAC(mac)
	m := &dhcpv6.Message{MessageType: t, TransactionID: testXID}
	m.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: hw}))
	ia := &dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, 1}}
	if addr.IsValid() {
		ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: addr.AsSlice()})
	}
	m.AddOption(ia)
	for _, o := range opts {
		m.AddOption(o)
	}
	return m
}

// withServer adds the server's identifier, as a client does after its
// ADVERTISE.
func (ts *testServer6) withServer(m *dhcpv6.Message) *dhcpv6.Message {
	m.AddOption(ts.serverID)
	return m
}

// iaAddr is the address and valid lifetime the reply's first IA_NA gives,
// and its status code (success when it has none).
func iaAddr(m *dhcpv6.Message) (netip.Addr, time.Duration, iana.StatusCode) {
	ia := m.Options.OneIANA()
	if ia == nil {
		return netip.Addr{}, 0, iana.StatusUnspecFail
	}
	st := iana.StatusSuccess
	if s := ia.Options.Status(); s != nil {
		st = s.StatusCode
	}
	a := ia.Options.OneAddress()
	if a == nil {
		return netip.Addr{}, 0, st
	}
	ip, _ := netip.AddrFromSlice(a.IPv6Addr)
	return ip, a.ValidLifetime, st
}

func statusOf(m *dhcpv6.Message) iana.StatusCode {
	if s := m.Options.Status(); s != nil {
		return s.StatusCode
	}
	return iana.StatusSuccess
}

const mac1 = "52:54:00:00:01:02"

// TestLease6Lifecycle walks one client through SOLICIT, REQUEST, RENEW,
// REBIND, CONFIRM and RELEASE: the address it is advertised is the one
// bound, durable before the REPLY, extended, confirmed and then free.
func TestLease6Lifecycle(t *testing.T) {
	ts := newTestServer6(t, testConfig6(t))
	adv, _ := ts.exchange(msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}), clientSrc)
	if adv == nil || adv.MessageType != dhcpv6.MessageTypeAdvertise {
		t.Fatalf("SOLICIT answered %v", adv)
	}
	ip, lt, st := iaAddr(adv)
	if ip != netip.MustParseAddr("fd00::100") || lt != time.Hour || st != iana.StatusSuccess {
		t.Fatalf("ADVERTISE gives %v for %v (%v)", ip, lt, st)
	}
	if adv.Options.Preference() != 255 || len(adv.Options.DNS()) != 1 || adv.Options.ServerID() == nil {
		t.Errorf("ADVERTISE options: %s", adv.Summary())
	}
	if len(ts.Leases()) != 0 {
		t.Errorf("an ADVERTISE made a lease")
	}
	rep, _ := ts.exchange(ts.withServer(msg6(dhcpv6.MessageTypeRequest, mac1, ip)), clientSrc)
	if got, _, st := iaAddr(rep); got != ip || st != iana.StatusSuccess || rep.MessageType != dhcpv6.MessageTypeReply {
		t.Fatalf("REQUEST: %v %v", got, st)
	}
	l, ok, err := ts.store.ByAddr(bg, ip)
	if err != nil || !ok || l.DUID != "0003000152540000010"+"2" || l.IAID != 1 || l.MAC != mac1 || !l.Expiry.Equal(ts.clock.Add(time.Hour)) {
		t.Fatalf("stored lease %+v %v %v", l, ok, err)
	}
	ts.clock = ts.clock.Add(30 * time.Minute)
	for _, mt := range []dhcpv6.MessageType{dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind} {
		m := msg6(mt, mac1, ip)
		if mt == dhcpv6.MessageTypeRenew {
			ts.withServer(m)
		}
		rep, _ := ts.exchange(m, clientSrc)
		if got, lt, st := iaAddr(rep); got != ip || lt != time.Hour || st != iana.StatusSuccess {
			t.Errorf("%v: %v %v %v", mt, got, lt, st)
		}
	}
	if l, _, _ := ts.store.ByAddr(bg, ip); !l.Expiry.Equal(ts.clock.Add(time.Hour)) {
		t.Errorf("renewal not stored: %v", l.Expiry)
	}
	if rep, _ := ts.exchange(msg6(dhcpv6.MessageTypeConfirm, mac1, ip), clientSrc); rep == nil || statusOf(rep) != iana.StatusSuccess {
		t.Errorf("CONFIRM on link: %v", rep)
	}
	if rep, _ := ts.exchange(msg6(dhcpv6.MessageTypeConfirm, mac1, netip.MustParseAddr("fd09::1")), clientSrc); rep == nil ||
		statusOf(rep) != iana.StatusNotOnLink {
		t.Errorf("CONFIRM off link: %v", rep)
	}
	rep, _ = ts.exchange(ts.withServer(msg6(dhcpv6.MessageTypeRelease, mac1, ip)), clientSrc)
	if rep == nil || statusOf(rep) != iana.StatusSuccess {
		t.Fatalf("RELEASE: %v", rep)
	}
	if l, _, _ := ts.store.ByAddr(bg, ip); l.Active(ts.clock) {
		t.Errorf("released lease still active in the store: %+v", l)
	}
	// The IA has no lease now: RENEW gets NoBinding.
	rep, _ = ts.exchange(ts.withServer(msg6(dhcpv6.MessageTypeRenew, mac1, ip)), clientSrc)
	if _, _, st := iaAddr(rep); st != iana.StatusNoBinding {
		t.Errorf("RENEW after RELEASE: %v", st)
	}
	in := 0
	for _, e := range ts.rec {
		if e.Service != event.DHCPv6 || e.MAC.String() != mac1 {
			t.Errorf("event %+v", e)
		}
		if e.Kind == event.DHCPIn {
			in++
		}
	}
	if in != 8 {
		t.Errorf("%d DHCPIn events, want 8", in)
	}
}

// TestSolicit6 covers what a SOLICIT gets: reservations by DUID and by
// MAC, rapid commit, relays and boot information.
func TestSolicit6(t *testing.T) {
	relayed := func(m *dhcpv6.Message, link string, extra ...dhcpv6.Option) dhcpv6.DHCPv6 {
		r, _ := dhcpv6.EncapsulateRelay(m, dhcpv6.MessageTypeRelayForward, net.ParseIP(link), net.ParseIP("fe80::5054:ff:fe00:999"))
		r.AddOption(dhcpv6.OptInterfaceID([]byte("eth1/7")))
		for _, o := range extra {
			r.AddOption(o)
		}
		return r
	}
	arch := func(a iana.Arch) dhcpv6.Option { return dhcpv6.OptClientArchType(a) }
	vc := func(s string) dhcpv6.Option {
		return &dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte(s)}}
	}
	rapid := &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit}
	llt := func(mac string) dhcpv6.Option {
		hw, _ := net.ParseMAC(mac)
		return dhcpv6.OptClientID(&dhcpv6.DUIDLLT{HWType: iana.HWTypeEthernet, Time: 1, LinkLayerAddr: hw})
	}
	uuid := dhcpv6.OptClientID(&dhcpv6.DUIDUUID{UUID: [16]byte{1, 2, 3}})
	for name, tc := range map[string]struct {
		m       dhcpv6.DHCPv6
		typ     dhcpv6.MessageType
		ip      string
		url     string
		http    bool // vendor class HTTPClient echoed
		iface   string
		decided string
	}{
		"plain":         {m: msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}), typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::100"},
		"hint honoured": {m: msg6(dhcpv6.MessageTypeSolicit, mac1, netip.MustParseAddr("fd00::1a0")), typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::1a0"},
		"reserved duid": {m: msg6(dhcpv6.MessageTypeSolicit, "52:54:00:00:00:50", netip.Addr{}), typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::50"},
		"reserved mac from duid-llt": {m: func() *dhcpv6.Message {
			m := msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{})
			m.UpdateOption(llt("52:54:00:00:00:51"))
			return m
		}(), typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::51"},
		"reserved mac from option 79": {m: func() dhcpv6.DHCPv6 {
			m := msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{})
			m.UpdateOption(uuid)
			hw, _ := net.ParseMAC("52:54:00:00:00:51")
			return relayed(m, "::", dhcpv6.OptClientLinkLayerAddress(iana.HWTypeEthernet, hw))
		}(), typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::51", iface: "eth1/7"},
		"rapid commit": {m: msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}, rapid), typ: dhcpv6.MessageTypeReply, ip: "fd00::100"},
		"relayed by link address": {m: relayed(msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}), "fd01::1"),
			typ: dhcpv6.MessageTypeAdvertise, ip: "fd01::10", iface: "eth1/7"},
		"uefi pxe": {m: msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}, arch(iana.EFI_X86_64), vc("PXEClient:Arch:00007:UNDI:003016")),
			typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::100", url: "tftp://[fd00::1]/snponly.efi", decided: "dhcpv6.boot.efi64"},
		"uefi http": {m: msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}, arch(iana.EFI_X86_64_HTTP), vc("HTTPClient:Arch:00016:UNDI:003000")),
			typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::100", url: "http://[fd00::1]:8080/images/ipxe.efi", http: true, decided: "dhcpv6.boot.http"},
		"ipxe": {m: msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}, arch(iana.EFI_X86_64), &dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("iPXE")}}),
			typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::100", url: "http://[fd00::1]:8080/images/boot.ipxe", decided: "dhcpv6.boot.ipxe"},
		"ztp by vendor class": {m: msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}, &dhcpv6.OptVendorClass{EnterpriseNumber: 9, Data: [][]byte{[]byte("Cisco C9300")}}),
			typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::100", url: "tftp://[fd00::1]/ztp/cisco.py", decided: "dhcpv6.rules[0]"},
		"ztp by interface-id": {m: func() dhcpv6.DHCPv6 {
			r, _ := dhcpv6.EncapsulateRelay(msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}), dhcpv6.MessageTypeRelayForward,
				net.ParseIP("fd00::1"), net.ParseIP("fe80::5054:ff:fe00:999"))
			r.AddOption(dhcpv6.OptInterfaceID([]byte("rack7/eth12")))
			return r
		}(), typ: dhcpv6.MessageTypeAdvertise, ip: "fd00::100", url: "tftp://[fd00::69]/rack7.cfg", iface: "rack7/eth12", decided: "dhcpv6.rules[1]"},
	} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer6(t, testConfig6(t))
			rep, hops := ts.exchange(tc.m, clientSrc)
			if rep == nil || rep.MessageType != tc.typ {
				t.Fatalf("reply %v, want %v", rep, tc.typ)
			}
			if ip, _, _ := iaAddr(rep); ip.String() != tc.ip {
				t.Errorf("address %v, want %s", ip, tc.ip)
			}
			if got := rep.Options.BootFileURL(); got != tc.url {
				t.Errorf("option 59 %q, want %q", got, tc.url)
			}
			if tc.url != "" && !strings.Contains(tc.decided, "rules") && strings.Join(rep.Options.BootFileParam(), " ") != "console=ttyS0" {
				t.Errorf("option 60: %q", rep.Options.BootFileParam())
			}
			if got := rep.Options.VendorClass(343); (len(got) == 1 && string(got[0]) == "HTTPClient") != tc.http {
				t.Errorf("vendor class in reply: %q", got)
			}
			if tc.iface != "" && (len(hops) != 1 || string(hops[0].interfaceID) != tc.iface) {
				t.Errorf("relay-repl hops %+v, want interface-id %q", hops, tc.iface)
			}
			if tc.typ == dhcpv6.MessageTypeReply {
				if rep.GetOneOption(dhcpv6.OptionRapidCommit) == nil || len(ts.Leases()) != 1 {
					t.Errorf("rapid commit: %s, leases %v", rep.Summary(), ts.Leases())
				}
			}
			if tc.decided != "" {
				out := ts.rec[len(ts.rec)-1]
				if out.Kind != event.DHCPOut || out.Rule != tc.decided || out.File != tc.url {
					t.Errorf("DHCPOut event %+v", out)
				}
			}
		})
	}
}

// TestDrop6: messages RFC 8415 §16 says to discard, and ones for another
// server, get no reply and count as drops.
func TestDrop6(t *testing.T) {
	other := &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionServerID, OptionData: []byte{0, 3, 0, 1, 1, 2, 3, 4, 5, 6}}
	noCID := msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{})
	noCID.Options.Del(dhcpv6.OptionClientID)
	for name, tc := range map[string]struct {
		b      []byte
		reason string
	}{
		"garbage":             {[]byte{1, 2}, "malformed"},
		"truncated option":    {append(msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}).ToBytes(), 0, 1, 0, 9), "malformed"},
		"solicit, no duid":    {noCID.ToBytes(), "malformed"},
		"solicit, server id":  {msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}, other).ToBytes(), "malformed"},
		"request, other":      {msg6(dhcpv6.MessageTypeRequest, mac1, netip.Addr{}, other).ToBytes(), "other_server"},
		"request, none":       {msg6(dhcpv6.MessageTypeRequest, mac1, netip.Addr{}).ToBytes(), "malformed"},
		"advertise":           {msg6(dhcpv6.MessageTypeAdvertise, mac1, netip.Addr{}).ToBytes(), "unexpected_type"},
		"info-request, ia_na": {msg6(dhcpv6.MessageTypeInformationRequest, mac1, netip.Addr{}).ToBytes(), "malformed"},
		"confirm, no address": {msg6(dhcpv6.MessageTypeConfirm, mac1, netip.Addr{}).ToBytes(), "nothing_to_confirm"},
	} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer6(t, testConfig6(t))
			if out, _, _, _ := ts.respond(tc.b, clientSrc); out != nil {
				t.Fatalf("answered: %x", out)
			}
			if v := testutil.ToFloat64(ts.m.drops.WithLabelValues(tc.reason)); v != 1 {
				t.Errorf("drops{%s} = %v", tc.reason, v)
			}
		})
	}
}

// TestInformationRequest6 answers a stateless client with configuration
// and its boot file URL.
func TestInformationRequest6(t *testing.T) {
	ts := newTestServer6(t, testConfig6(t))
	m := msg6(dhcpv6.MessageTypeInformationRequest, mac1, netip.Addr{}, dhcpv6.OptClientArchType(iana.EFI_X86_64),
		&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("iPXE")}})
	m.Options.Del(dhcpv6.OptionIANA)
	rep, _ := ts.exchange(m, clientSrc)
	if rep == nil || rep.MessageType != dhcpv6.MessageTypeReply || rep.Options.OneIANA() != nil ||
		rep.Options.BootFileURL() != "http://[fd00::1]:8080/images/boot.ipxe" || len(rep.Options.DNS()) != 1 {
		t.Fatalf("reply %v", rep)
	}
}

// TestDeclineAndExhaustion6: a declined address is out of use; a full
// range answers NoAddrsAvail.
func TestDeclineAndExhaustion6(t *testing.T) {
	ts := newTestServer6(t, testConfig6(t))
	relay := func(m *dhcpv6.Message) dhcpv6.DHCPv6 {
		r, _ := dhcpv6.EncapsulateRelay(m, dhcpv6.MessageTypeRelayForward, net.ParseIP("fd01::1"), net.ParseIP("fe80::1"))
		return r
	}
	rapid := &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit}
	rep, _ := ts.exchange(relay(msg6(dhcpv6.MessageTypeSolicit, "52:54:00:00:02:01", netip.Addr{}, rapid)), clientSrc)
	first, _, _ := iaAddr(rep)
	rep, _ = ts.exchange(relay(ts.withServer(msg6(dhcpv6.MessageTypeDecline, "52:54:00:00:02:01", first))), clientSrc)
	if rep == nil || statusOf(rep) != iana.StatusSuccess {
		t.Fatalf("DECLINE: %v", rep)
	}
	if l, _, _ := ts.store.ByAddr(bg, first); !l.Declined {
		t.Errorf("declined address stored as %+v", l)
	}
	for i, want := range []string{"fd01::11", ""} {
		rep, _ := ts.exchange(relay(msg6(dhcpv6.MessageTypeSolicit, "52:54:00:00:02:0"+string(rune('2'+i)), netip.Addr{}, rapid)), clientSrc)
		ip, _, st := iaAddr(rep)
		if want == "" {
			if st != iana.StatusNoAddrsAvail || statusOf(rep) != iana.StatusNoAddrsAvail {
				t.Errorf("full range: %v %v", ip, st)
			}
			continue
		}
		if ip.String() != want {
			t.Errorf("client %d got %v, want %s", i, ip, want)
		}
	}
}

// TestServe6 runs the server on a socket: a SOLICIT sent to [::1] is
// answered on the socket it came from.
func TestServe6(t *testing.T) {
	ts := newTestServer6(t, testConfig6(t))
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx, conn) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		ts.Shutdown(context.Background())
	}()
	cli, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.WriteTo(msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}).ToBytes(), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on a broken test, not a wait for readiness
	buf := make([]byte, 1500)
	n, _, err := cli.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dhcpv6.MessageFromBytes(buf[:n])
	if err != nil || m.MessageType != dhcpv6.MessageTypeAdvertise {
		t.Fatalf("reply %v %v", m, err)
	}
}

// TestMetrics6Precreated: every label value of the DHCPv6 counters exists
// from the start.
func TestMetrics6Precreated(t *testing.T) {
	ts := newTestServer6(t, testConfig6(t))
	for name, want := range map[string]int{
		"bootsrv_dhcpv6_messages_total": len(types6), "bootsrv_dhcpv6_drops_total": len(dropReasons6),
		"bootsrv_dhcpv6_ia_status_total": len(statuses6), "bootsrv_dhcpv6_replies_total": 2,
		"bootsrv_dhcpv6_router_advertisements_total": 2, "bootsrv_dhcpv6_pool_size": 2,
	} {
		if got, err := testutil.GatherAndCount(ts.reg, name); err != nil || got != want {
			t.Errorf("%s: %d series, want %d (%v)", name, got, want, err)
		}
	}
}
