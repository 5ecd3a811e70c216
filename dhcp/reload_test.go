package dhcp

import (
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestPrepareReload: a reservation added by a reload is answered by the
// next DISCOVER; a lease whose pool the reload removed stays until it
// expires; a bad config changes nothing; what the server was built around
// (its mode, interface, lease store) keeps its running value.
func TestPrepareReload(t *testing.T) {
	cfg := testConfig(t)
	ts := newTestServer(t, cfg)
	relayed := ts.dora("52:54:00:10:00:01", dhcpv4.WithGatewayIP([]byte{10, 1, 0, 1}))
	if relayed == nil {
		t.Fatal("no lease in the relayed pool")
	}

	bad := cfg
	bad.Pools = append([]Pool(nil), cfg.Pools...)
	bad.Pools[0].Range = "10.9.9.1-10.9.9.5"
	if _, err := ts.PrepareReload(bad); err == nil {
		t.Fatal("a pool range outside its subnet was accepted")
	}

	next := cfg
	next.Pools = cfg.Pools[:1] // the relayed segment's pool goes
	next.Hosts = append(append([]Host(nil), cfg.Hosts...), Host{MAC: "52:54:00:10:00:02", IP: "10.0.0.60", Hostname: "added"})
	next.Interface = "eth42"
	next.LeaseFile = "/nonexistent/leases.db"
	apply, err := ts.PrepareReload(next)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ts.exchange(discover("52:54:00:10:00:02")); o == nil || o.YourIPAddr.String() == "10.0.0.60" {
		t.Fatalf("the reload took effect before it was applied: %v", o)
	}
	apply()
	ts.clock = ts.clock.Add(time.Minute) // the earlier offer's hold is over
	ack := ts.dora("52:54:00:10:00:02")
	if ack == nil || ack.YourIPAddr.String() != "10.0.0.60" || ack.HostName() != "added" {
		t.Fatalf("the added reservation: %v", ack)
	}
	found := false
	for _, l := range ts.Leases() {
		if l.IP.String() == relayed.YourIPAddr.String() && l.Active(ts.clock) {
			found = true
		}
	}
	if !found {
		t.Error("the lease of the removed pool was dropped")
	}
	if got := ts.comp().cfg; got.Interface != "lo" || got.LeaseFile != cfg.LeaseFile {
		t.Errorf("restart-only keys changed live: interface %q lease_file %q", got.Interface, got.LeaseFile)
	}
}
