package dhcp

import (
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// tableState is, by value, everything bind may change.
type tableState struct {
	byIP     map[uint32]entry
	byKey    map[ClientKey]uint32
	offers   map[uint32]offerHold
	offerKey map[ClientKey]uint32
	held     map[*pool]int
	unheld   uint64
}

func (t *leaseTable) state() tableState {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := tableState{byIP: map[uint32]entry{}, byKey: map[ClientKey]uint32{}, offers: map[uint32]offerHold{},
		offerKey: map[ClientKey]uint32{}, held: map[*pool]int{}, unheld: t.caps.unheld}
	for ip, e := range t.byIP {
		s.byIP[ip] = *e
	}
	for k, v := range t.byKey {
		s.byKey[k] = v
	}
	for ip, o := range t.offers {
		s.offers[ip] = o
	}
	for k, v := range t.offerKey {
		s.offerKey[k] = v
	}
	for p, n := range t.caps.held {
		if n != 0 {
			s.held[p] = n
		}
	}
	return s
}

// checkConsistent fails when an address is both leased and held for
// another client, or a client holds two active leases.
func checkConsistent(t *testing.T, ts *testServer) {
	t.Helper()
	s, now := ts.table.state(), ts.clock
	active := map[ClientKey]uint32{}
	for ip, e := range s.byIP {
		if e.key == "" || !now.Before(e.lease.Expiry) {
			continue
		}
		if other, dup := active[e.key]; dup {
			t.Errorf("client %q holds %v and %v", e.key, addr(other), addr(ip))
		}
		active[e.key] = ip
		if o, ok := s.offers[ip]; ok && o.key != e.key && now.Before(o.until) {
			t.Errorf("%v leased to %q and held for %q", addr(ip), e.key, o.key)
		}
	}
	held := map[*pool]int{}
	for _, o := range s.offers {
		if o.pool != nil {
			held[o.pool]++
		}
	}
	if !reflect.DeepEqual(held, s.held) {
		t.Errorf("cap accounting %v, offers hold %v", s.held, held)
	}
}

func relayed(m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 { m.GatewayIPAddr = net.IPv4(10, 1, 0, 1); return m }

// TestFailedCommitRestoresTable: when the lease cannot be made durable, the
// table is exactly as before the REQUEST, so its retry is granted and no
// address is lost or owned twice.
func TestFailedCommitRestoresTable(t *testing.T) {
	tests := map[string]func(ts *testServer) *dhcpv4.DHCPv4{
		"first lease": func(ts *testServer) *dhcpv4.DHCPv4 {
			o, _ := ts.exchange(discover("52:54:00:17:00:01"))
			return requestFor(o)
		},
		// The client leaves the relayed segment for the local one: the
		// bind ends its lease there.
		"client moves": func(ts *testServer) *dhcpv4.DHCPv4 {
			o, _ := ts.exchange(relayed(discover("52:54:00:17:00:02")))
			if a, _ := ts.exchange(relayed(requestFor(o))); a == nil || a.MessageType() != dhcpv4.MessageTypeAck {
				t.Fatalf("relayed lease: %v", a)
			}
			o, _ = ts.exchange(discover("52:54:00:17:00:02"))
			return requestFor(o)
		},
		// Offers on two segments; the bind drops both.
		"two offers": func(ts *testServer) *dhcpv4.DHCPv4 {
			local, _ := ts.exchange(discover("52:54:00:17:00:03"))
			ts.exchange(relayed(discover("52:54:00:17:00:03")))
			return requestFor(local)
		},
		"reservation": func(ts *testServer) *dhcpv4.DHCPv4 {
			o, _ := ts.exchange(discover("52:54:00:00:00:50"))
			return requestFor(o)
		},
	}
	for name, setup := range tests {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, testConfig(t))
			req := setup(ts)
			want := req.RequestedIPAddress()
			before := ts.table.state()
			ts.store.(*boltStore).failCommit = func() error { return errDiskFull }
			if r, _ := ts.exchange(req); r != nil {
				t.Fatalf("reply although the commit failed: %v", r)
			}
			if after := ts.table.state(); !reflect.DeepEqual(before, after) {
				t.Fatalf("table not restored:\nbefore %s\nafter  %s", dumpState(before), dumpState(after))
			}
			ts.store.(*boltStore).failCommit = nil
			ts.clock = ts.clock.Add(time.Second)
			r, _ := ts.exchange(req)
			if r == nil || r.MessageType() != dhcpv4.MessageTypeAck || !r.YourIPAddr.Equal(want) {
				t.Fatalf("retry: %v", r)
			}
			checkConsistent(t, ts)
		})
	}
}

func dumpState(s tableState) string {
	out := ""
	for ip, e := range s.byIP {
		out += fmt.Sprintf("lease %v %q until %s; ", addr(ip), e.key, e.lease.Expiry.Format(time.TimeOnly))
	}
	for k, ip := range s.byKey {
		out += fmt.Sprintf("byKey %q=%v; ", k, addr(ip))
	}
	for ip, o := range s.offers {
		out += fmt.Sprintf("offer %v %q capped=%v; ", addr(ip), o.key, o.pool != nil)
	}
	for k, ip := range s.offerKey {
		out += fmt.Sprintf("offerKey %q=%v; ", k, addr(ip))
	}
	return out + fmt.Sprintf("held %v", s.held)
}

// TestUnbindLeavesLaterChanges: an offer made on a dropped offer's address
// while the commit waited wins over the restore.
func TestUnbindLeavesLaterChanges(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	local, _ := ts.exchange(discover("52:54:00:18:00:01"))
	first, _ := ts.exchange(relayed(discover("52:54:00:18:00:01")))
	k := keyFor(nil, mac("52:54:00:18:00:01"))
	l := Lease{IP: ipOf(local.YourIPAddr), MAC: "52:54:00:18:00:01", Expiry: ts.clock.Add(time.Hour)}
	u, _, ok := ts.table.bind(ts.comp().pools[0], k, nil, l, ts.clock)
	if !ok {
		t.Fatal("bind refused")
	}
	other, _ := ts.exchange(relayed(discover("52:54:00:18:00:02", dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(first.YourIPAddr)))))
	if other == nil || !other.YourIPAddr.Equal(first.YourIPAddr) {
		t.Fatalf("the freed relayed address %v was not offered again: %v", first.YourIPAddr, other)
	}
	ts.table.unbind(u)
	s := ts.table.state()
	if o := s.offers[u32(ipOf(first.YourIPAddr))]; o.key != keyFor(nil, mac("52:54:00:18:00:02")) {
		t.Errorf("the later offer lost its hold to the restore: %+v", o)
	}
	if o := s.offers[u32(ipOf(local.YourIPAddr))]; o.key != k {
		t.Errorf("the bound offer was not restored: %+v", o)
	}
	if _, leased := s.byIP[u32(ipOf(local.YourIPAddr))]; leased {
		t.Error("the failed lease is still in the table")
	}
	checkConsistent(t, ts)
}

// TestKeyOfLeaseAnyHardwareLength: a lease record names its client by the
// same key as the request did, whatever chaddr's length (1 to 16 bytes),
// so a client keeps its lease across a restart.
func TestKeyOfLeaseAnyHardwareLength(t *testing.T) {
	for _, n := range []int{1, 6, 8, 16} {
		hw := make(net.HardwareAddr, n)
		for i := range hw {
			hw[i] = byte(0xa0 + i)
		}
		if got, want := keyOfLease(Lease{MAC: hw.String()}), keyFor(nil, hw); got != want {
			t.Errorf("%d-byte chaddr: lease key %q, request key %q", n, got, want)
		}
	}
}
