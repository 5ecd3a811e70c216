package dhcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestClient(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hosts[0].Vars = map[string]string{"role": "worker"}
	ts := newTestServer(t, cfg)
	efi64 := dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 7})
	reserved := ts.dora("52:54:00:00:00:50", efi64)
	dynamic := ts.dora("52:54:00:aa:00:07", dhcpv4.WithOption(dhcpv4.OptHostName("sent-name")),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")))
	plain := ts.dora("52:54:00:aa:00:08")

	tests := map[string]struct {
		ip       netip.Addr
		ok       bool
		mac      string
		hostname string
		arch     int
		vars     map[string]string
	}{
		"reservation":          {ip: ipOf(reserved.YourIPAddr), ok: true, mac: "52:54:00:00:00:50", hostname: "node1", arch: 7, vars: map[string]string{"role": "worker"}},
		"dynamic, vendor arch": {ip: ipOf(dynamic.YourIPAddr), ok: true, mac: "52:54:00:aa:00:07", hostname: "sent-name", arch: 0},
		"no arch":              {ip: ipOf(plain.YourIPAddr), ok: true, mac: "52:54:00:aa:00:08", arch: -1},
		"no lease":             {ip: netip.MustParseAddr("10.0.0.199")},
		"invalid":              {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ci, ok := ts.Client(tc.ip)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if ci.MAC.String() != tc.mac || ci.Hostname != tc.hostname || ci.Arch != tc.arch || ci.IP != tc.ip {
				t.Errorf("got %+v, want mac %s hostname %q arch %d", ci, tc.mac, tc.hostname, tc.arch)
			}
			if (ci.Host != nil) != (tc.vars != nil) {
				t.Fatalf("Host = %v, want a reservation: %v", ci.Host, tc.vars != nil)
			}
			if ci.Host != nil && (ci.Host.Vars["role"] != tc.vars["role"] || ci.Host.IP != "10.0.0.50") {
				t.Errorf("Host = %+v", ci.Host)
			}
		})
	}

	// An expired lease is no longer anybody's.
	ts.clock = ts.clock.Add(2 * time.Hour)
	if _, ok := ts.Client(ipOf(plain.YourIPAddr)); ok {
		t.Error("expired lease still found")
	}
}
