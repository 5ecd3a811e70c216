package timeline

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// TestResolveIP: an IP-only event goes to the MAC the resolver names, else
// to the machine last seen with that IP, else under the IP.
func TestResolveIP(t *testing.T) {
	arp := map[netip.Addr]net.HardwareAddr{ip("10.0.0.20"): hw("52:54:00:00:00:20")}
	tests := map[string]struct {
		resolve bool
		before  []event.Event // recorded first
		ip      string
		wantMAC string // "" : kept under the IP
	}{
		"resolver": {resolve: true, ip: "10.0.0.20", wantMAC: "52:54:00:00:00:20"},
		"resolver wins over an earlier binding": {resolve: true, ip: "10.0.0.20", wantMAC: "52:54:00:00:00:20",
			before: []event.Event{{MAC: hw("52:54:00:00:00:99"), IP: ip("10.0.0.20"), Service: event.DHCP, Kind: event.DHCPOut}}},
		"earlier binding without resolver": {ip: "10.0.0.20", wantMAC: "52:54:00:00:00:99",
			before: []event.Event{{MAC: hw("52:54:00:00:00:99"), IP: ip("10.0.0.20"), Service: event.DHCP, Kind: event.DHCPOut}}},
		"binding moves with the machine": {resolve: true, ip: "10.0.0.30", wantMAC: "",
			before: []event.Event{
				{MAC: hw("52:54:00:00:00:99"), IP: ip("10.0.0.30"), Service: event.DHCP, Kind: event.DHCPOut},
				{MAC: hw("52:54:00:00:00:99"), IP: ip("10.0.0.31"), Service: event.DHCP, Kind: event.DHCPOut},
			}},
		"unknown": {resolve: true, ip: "10.0.0.40"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := Config{}
			if tc.resolve {
				cfg.Resolve = func(a netip.Addr) (net.HardwareAddr, bool) { m, ok := arp[a]; return m, ok }
			}
			r := newTestRecorder(t, cfg)
			for _, e := range tc.before {
				r.Record(e)
			}
			r.Record(event.Event{IP: ip(tc.ip), Service: event.TFTP, Kind: event.Transfer, File: "probe"})
			m, ok := r.MachineByIP(ip(tc.ip))
			if !ok {
				t.Fatalf("nothing found at %s", tc.ip)
			}
			if m.Summary.MAC != tc.wantMAC || m.Summary.Unresolved != (tc.wantMAC == "") {
				t.Errorf("recorded under %q (unresolved %v), want %q", m.Summary.MAC, m.Summary.Unresolved, tc.wantMAC)
			}
			if last := m.Events[len(m.Events)-1]; last.File != "probe" || last.IP != tc.ip {
				t.Errorf("last event = %+v", last)
			}
		})
	}
}

// TestLateAttach: events kept under an IP move to the MAC's timeline, in
// time order, when an event ties the IP to the MAC; those older than the
// attach window stay under the IP.
func TestLateAttach(t *testing.T) {
	r := newTestRecorder(t, Config{AttachWindow: 5 * time.Minute})
	a := ip("10.0.0.77")
	mac := "52:54:00:00:00:77"
	rec := func(file string) {
		r.Record(event.Event{IP: a, Service: event.HTTP, Kind: event.Transfer, Result: event.OK, File: file,
			Hostname: "late"})
	}
	rec("stale")
	r.clock.Advance(10 * time.Minute)
	rec("first")
	r.clock.Advance(time.Second)
	r.Record(event.Event{MAC: hw(mac), Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.Discover})
	r.clock.Advance(time.Second)
	rec("second")
	if m, _ := r.Machine(hw(mac)); len(m.Events) != 1 {
		t.Fatalf("before the binding the MAC has %d events, want 1", len(m.Events))
	}

	r.clock.Advance(time.Second)
	r.Record(event.Event{MAC: hw(mac), IP: a, Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack, Result: event.OK})

	m := r.mustMachine(t, mac)
	var files []string
	for _, e := range m.Events {
		files = append(files, e.Kind.String()+":"+e.File)
	}
	want := "[transfer:first dhcp_in: transfer:second dhcp_out:]"
	if got := "[" + strings.Join(files, " ") + "]"; got != want {
		t.Errorf("timeline = %s, want %s", got, want)
	}
	if s := m.Summary; s.EventsTotal != 4 || s.LastStep != "dhcp ack" || s.Hostname != "late" || s.IP != "10.0.0.77" {
		t.Errorf("summary = %+v", s)
	}
	left, ok := r.MachineByIP(a)
	if !ok || !left.Summary.Unresolved || len(left.Events) != 1 || left.Events[0].File != "stale" {
		t.Errorf("under the IP = %+v, want only the stale event", left)
	}
	l := r.Machines("", 0, 10)
	if l.Total != 2 || l.Machines[0].MAC != mac || !l.Machines[1].Unresolved {
		t.Errorf("list = %+v", l)
	}

	// Once every event has moved, the IP's entry goes.
	r2 := newTestRecorder(t, Config{})
	r2.Record(event.Event{IP: a, Service: event.TFTP, Kind: event.Transfer})
	r2.Record(event.Event{MAC: hw(mac), IP: a, Service: event.DHCP, Kind: event.DHCPOut})
	if l := r2.Machines("", 0, 10); l.Total != 1 || l.Machines[0].Unresolved {
		t.Errorf("list after full attach = %+v", l)
	}
}

// TestUnresolvedBound: the per-IP area keeps its last UnresolvedIPs
// addresses.
func TestUnresolvedBound(t *testing.T) {
	r := newTestRecorder(t, Config{UnresolvedIPs: 2})
	for _, s := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"} {
		r.clock.Advance(time.Second)
		r.Record(event.Event{IP: ip(s), Service: event.FTP, Kind: event.Login})
	}
	for s, want := range map[string]bool{"10.0.0.1": true, "10.0.0.2": false, "10.0.0.3": true} {
		if _, ok := r.MachineByIP(ip(s)); ok != want {
			t.Errorf("%s kept = %v, want %v", s, ok, want)
		}
	}
}
