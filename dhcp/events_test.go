package dhcp

import (
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// TestEvents: every message in and reply out is told to the boot timeline
// with what the client said about itself; the ACK carries the address, the
// bootfile and the config key that chose it, the OFFER no address.
func TestEvents(t *testing.T) {
	var mu sync.Mutex
	var got []event.Event
	cfg := testConfig(t)
	cfg.Rules = []Rule{{Match: RuleMatch{VendorClass: "^Arista"}, Bootfile: "ztp/arista"}}
	cfg.Events = event.SinkFunc(func(e event.Event) {
		mu.Lock()
		e.MAC = append([]byte(nil), e.MAC...)
		got = append(got, e)
		mu.Unlock()
	})
	ts := newTestServer(t, cfg)
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 7}),
	}
	ack := ts.dora("52:54:00:aa:00:01", pxe...)
	ts.dora("52:54:00:00:00:50", dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Arista;DCS-7050")))
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 8 {
		t.Fatalf("%d events, want 8 (4 in, 4 out): %+v", len(got), got)
	}
	in, offer, out := got[0], got[1], got[3]
	if in.Kind != event.DHCPIn || in.MsgType != event.MsgType(dhcpv4.MessageTypeDiscover) || in.Arch != "efi64" ||
		in.VendorClass != "PXEClient:Arch:00007:UNDI:003016" || in.IP.IsValid() {
		t.Errorf("discover event %+v", in)
	}
	if offer.Kind != event.DHCPOut || offer.MsgType != event.MsgType(dhcpv4.MessageTypeOffer) || offer.IP.IsValid() {
		t.Errorf("offer event %+v: an offered address is not the machine's yet", offer)
	}
	if out.MsgType != event.MsgType(dhcpv4.MessageTypeAck) || out.IP.String() != ack.YourIPAddr.String() ||
		out.File != "snponly.efi" || out.Rule != "dhcp.boot.efi64" || out.MAC.String() != "52:54:00:aa:00:01" {
		t.Errorf("ack event %+v", out)
	}
	if ztp := got[7]; ztp.File != "ztp/arista" || ztp.Rule != "dhcp.rules[0]" || ztp.Hostname != "node1" {
		t.Errorf("rule ack event %+v", ztp)
	}
}

// TestDecidedByHost: a host's bootfile override is named by its key.
func TestDecidedByHost(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hosts[0].Bootfile = "special.efi"
	ts := newTestServer(t, cfg)
	offer, _ := ts.exchange(discover("52:54:00:00:00:50", dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007"))))
	if offer == nil {
		t.Fatal("no offer")
	}
	_, decided := ts.reply(discover("52:54:00:00:00:50", dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007"))),
		dhcpv4.MessageTypeOffer, ts.comp().pools[0], ts.comp().byMAC["52:54:00:00:00:50"], ts.serverIP)
	if decided != "dhcp.hosts[0].bootfile" {
		t.Errorf("decided by %q", decided)
	}
}
