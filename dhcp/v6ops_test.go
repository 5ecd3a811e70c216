package dhcp

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// TestBuildRA: the router advertisement has the managed and other-config
// flags, a 30 s router lifetime, the source link-layer address and the prefix
// on-link but not for autoconfiguration, with short lifetimes.
func TestBuildRA(t *testing.T) {
	hw, _ := net.ParseMAC("52:54:00:aa:bb:cc")
	ra := buildRA(hw, netip.MustParsePrefix("fd00:10::/64"))
	want := []byte{134, 0, 0, 0, 64, 0xc0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 0x52, 0x54, 0, 0xaa, 0xbb, 0xcc,
		3, 4, 64, 0x80, 0, 0, 1, 44, 0, 0, 0, 120, 0, 0, 0, 0, 0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if string(ra) != string(want) {
		t.Errorf("RA\n got %x\nwant %x", ra, want)
	}
	if got := buildRA(nil, netip.Prefix{}); len(got) != 16 {
		t.Errorf("RA without address or prefix: %x", got)
	}
	for name, tc := range map[string]struct {
		b    []byte
		want bool
	}{
		"rs":       {[]byte{133, 0, 0, 0, 0, 0, 0, 0}, true},
		"short":    {[]byte{133, 0, 0}, false},
		"bad code": {[]byte{133, 1, 0, 0, 0, 0, 0, 0}, false},
		"an ra":    {ra, false},
	} {
		if got := isSolicitation(tc.b, nil); got != tc.want {
			t.Errorf("%s: %v", name, got)
		}
	}
}

// TestPrepareReload6: a reload changes the boot entries and reservations
// for the next messages; what the server was built around keeps its
// running value; a bad config changes nothing.
func TestPrepareReload6(t *testing.T) {
	ts := newTestServer6(t, testConfig6(t))
	pxe := func() *dhcpv6.Message {
		return msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}, dhcpv6.OptClientArchType(iana.EFI_X86_64),
			&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte("PXEClient:Arch:00007")}})
	}
	bad := testConfig6(t)
	bad.Pools[0].Range = "nonsense"
	if _, err := ts.PrepareReload(bad); err == nil {
		t.Fatal("a bad config was accepted")
	}
	cfg := testConfig6(t)
	cfg.Boot.EFI64 = "grubnetx64.efi"
	cfg.Interface, cfg.Port = "eth9", 9547 // restart-only: kept as running
	cfg.Hosts = append(cfg.Hosts, Host6{MAC: mac1, IP: "fd00::77"})
	apply, err := ts.PrepareReload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep, _ := ts.exchange(pxe(), clientSrc); rep.Options.BootFileURL() != "tftp://[fd00::1]/snponly.efi" {
		t.Errorf("before apply: %q", rep.Options.BootFileURL())
	}
	apply()
	rep, _ := ts.exchange(pxe(), clientSrc)
	if ip, _, _ := iaAddr(rep); rep.Options.BootFileURL() != "tftp://[fd00::1]/grubnetx64.efi" || ip.String() != "fd00::77" {
		t.Errorf("after apply: %q %v", rep.Options.BootFileURL(), ip)
	}
	if c := ts.comp().cfg; c.Interface != "lo" || c.Port != 547 {
		t.Errorf("restart-only keys changed: %s %d", c.Interface, c.Port)
	}
}

// TestExplain6 says what a machine would get without holding anything:
// the address, the boot file URL and what decided it, the options.
func TestExplain6(t *testing.T) {
	s, note, err := NewExplainer6(testConfig6(t), nil)
	if err != nil || note != "" {
		t.Fatal(err, note)
	}
	mac, _ := net.ParseMAC(mac1)
	for name, tc := range map[string]struct {
		q                ExplainQuery6
		reply, ip, url   string
		decided, stepHas string
	}{
		"uefi pxe": {q: ExplainQuery6{MAC: mac, Arch: 7}, reply: "reply", ip: "fd00::100", url: "tftp://[fd00::1]/snponly.efi",
			decided: "dhcpv6.boot.efi64", stepHas: "client: PXE firmware"},
		"http boot": {q: ExplainQuery6{MAC: mac, Arch: 16}, reply: "reply", ip: "fd00::100", url: "http://[fd00::1]:8080/images/ipxe.efi",
			decided: "dhcpv6.boot.http"},
		"reserved, relayed by rack 7": {q: ExplainQuery6{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0x51}, Arch: -1, LinkAddr: netip.MustParseAddr("fd00::1"),
			InterfaceID: "rack7/eth3"}, reply: "reply", ip: "fd00::51", url: "tftp://[fd00::69]/rack7.cfg", decided: "dhcpv6.rules[1]",
			stepHas: "dhcpv6.rules[1]: matches"},
		"no pool": {q: ExplainQuery6{MAC: mac, Arch: -1, LinkAddr: netip.MustParseAddr("fd09::1")}, reply: "none"},
	} {
		ex := s.Explain(tc.q)
		if ex.Reply != tc.reply || ex.Address != tc.ip || ex.Bootfile != tc.url || ex.DecidedBy != tc.decided {
			t.Errorf("%s: %+v", name, ex)
		}
		if tc.stepHas != "" && !strings.Contains(strings.Join(ex.Steps, "\n"), tc.stepHas) {
			t.Errorf("%s: steps %q lack %q", name, ex.Steps, tc.stepHas)
		}
	}
	if len(s.Leases()) != 0 || len(s.table.offers) != 0 {
		t.Errorf("explaining held something")
	}
}

// takenStore refuses every bind, as a shared store does when another
// server's client committed the address first.
type takenStore struct{ nullStore }

func (takenStore) Commit(_ context.Context, _ time.Time, changes ...Change) error {
	return &TakenError{Holder: Lease{IP: changes[0].Lease.IP, DUID: "0003000199", IAID: 7, Expiry: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}}
}

// TestTaken6: an address the store gives another server's client gets
// NoAddrsAvail now and is not offered again.
func TestTaken6(t *testing.T) {
	ts := newTestServer6(t, testConfig6(t))
	ts.store.Close()
	ts.store = takenStore{}
	rep, _ := ts.exchange(msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}, &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit}), clientSrc)
	if _, _, st := iaAddr(rep); st != iana.StatusNoAddrsAvail {
		t.Fatalf("taken address answered %v", st)
	}
	adv, _ := ts.exchange(msg6(dhcpv6.MessageTypeSolicit, mac1, netip.Addr{}), clientSrc)
	if ip, _, _ := iaAddr(adv); ip.String() != "fd00::101" {
		t.Errorf("next offer %v, want the next address", ip)
	}
}

// blockStore holds every commit until release is closed, telling entered
// when one arrives.
type blockStore struct {
	nullStore
	entered chan struct{}
	release chan struct{}
}

func (b blockStore) Commit(context.Context, time.Time, ...Change) error {
	b.entered <- struct{}{}
	<-b.release
	return nil
}

// TestCommitFreesHandler6: with max_handlers 1, a REQUEST waiting for a
// slow disk does not keep the next client's SOLICIT from its ADVERTISE.
func TestCommitFreesHandler6(t *testing.T) {
	cfg := testConfig6(t)
	cfg.MaxHandlers = 1
	ts := newTestServer6(t, cfg)
	bs := blockStore{entered: make(chan struct{}, 1), release: make(chan struct{})}
	ts.store.Close()
	ts.store = bs
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx, conn) }()
	cli, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cli.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on a broken test
	rapid := &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit}
	cli.WriteTo(msg6(dhcpv6.MessageTypeSolicit, "52:54:00:00:09:01", netip.Addr{}, rapid).ToBytes(), conn.LocalAddr())
	<-bs.entered // the first client's lease is being committed
	cli.WriteTo(msg6(dhcpv6.MessageTypeSolicit, "52:54:00:00:09:02", netip.Addr{}).ToBytes(), conn.LocalAddr())
	buf := make([]byte, 1500)
	n, _, err := cli.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := strictParse6(buf[:n]); err != nil || m.MessageType != dhcpv6.MessageTypeAdvertise {
		t.Fatalf("first answer %v %v, want the second client's ADVERTISE", m, err)
	}
	close(bs.release)
	if n, _, err = cli.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	if m, err := strictParse6(buf[:n]); err != nil || m.MessageType != dhcpv6.MessageTypeReply {
		t.Fatalf("second answer %v %v, want the first client's REPLY", m, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	ts.Shutdown(context.Background())
}
