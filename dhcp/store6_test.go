package dhcp

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// iaChange is DHCPv6 identity association (duid, iaid)'s lease on ip
// until storeNow+d.
func iaChange(ip, duid string, iaid uint32, d time.Duration) Change {
	l := Lease{IP: netip.MustParseAddr(ip), DUID: duid, IAID: iaid, MAC: "52:54:00:00:06:01", Expiry: storeNow.Add(d)}
	return Change{Lease: l, Client: keyOfLease(l)}
}

// TestStoreIPv6Leases: every store keeps DHCPv6 records (IPv6 address,
// DUID, IAID) beside DHCPv4 ones, with the same commit rules, keyed by
// DUID and IAID.
func TestStoreIPv6Leases(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		st := open(t, nil)
		v4 := bindChange("10.0.0.9", "52:54:00:00:00:09", time.Hour)
		a := iaChange("fd00::100", "00030001525400000601", 1, time.Hour)
		for _, c := range []Change{v4, a} {
			if err := st.Commit(bg, storeNow, c); err != nil {
				t.Fatal(err)
			}
		}
		// The same DUID with another IAID is another client.
		other := iaChange("fd00::100", "00030001525400000601", 2, time.Hour)
		if err := st.Commit(bg, storeNow, other); !errors.Is(err, ErrAddressTaken) {
			t.Fatalf("another IA on a held address: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st = open(t, nil)
		defer st.Close()
		got, err := st.List(bg)
		sortLeases(got)
		if err != nil || len(got) != 2 || !sameLease(got[0], v4.Lease) || !sameLease(got[1], a.Lease) {
			t.Fatalf("List after reopen: %+v, %v", got, err)
		}
		if l, ok, err := st.ByAddr(bg, a.Lease.IP); err != nil || !ok || !sameLease(l, a.Lease) {
			t.Errorf("ByAddr: %+v %v %v", l, ok, err)
		}
		if l, ok, err := st.ByClient(bg, a.Client); err != nil || !ok || !sameLease(l, a.Lease) {
			t.Errorf("ByClient: %+v %v %v", l, ok, err)
		}
		released := a
		released.Lease.Expiry, released.Ending = storeNow, true
		if err := st.Commit(bg, storeNow, released); err != nil {
			t.Fatal(err)
		}
		if n, err := st.Expire(bg, storeNow.Add(time.Second)); err != nil || n != 1 {
			t.Errorf("Expire: %d, %v; want the released IPv6 lease", n, err)
		}
	})
}

// TestLeaseTableSkipsIPv6: a DHCPv4 server loading a store it shares
// with a DHCPv6 server indexes the IPv4 records only.
func TestLeaseTableSkipsIPv6(t *testing.T) {
	c := &compiled{byMAC: map[string]*host{}, byCID: map[string]*host{}}
	v4 := bindChange("10.0.0.9", "52:54:00:00:00:09", time.Hour).Lease
	tb := newLeaseTable(c, []Lease{v4, iaChange("fd00::100", "0003000152540000", 1, time.Hour).Lease})
	if len(tb.byIP) != 1 || tb.byIP[u32(v4.IP)] == nil {
		t.Errorf("table holds %d records", len(tb.byIP))
	}
	tb.learn(iaChange("fd00::101", "0003000152540000", 2, time.Hour).Lease)
	if len(tb.byIP) != 1 {
		t.Errorf("learn took an IPv6 record")
	}
}
