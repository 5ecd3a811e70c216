package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// opener opens one store's storage, again after Close: every open sees
// what the earlier ones committed. observe may be nil.
type opener func(t *testing.T, observe func(time.Duration, int)) LeaseStore

// stores is every LeaseStore implementation, each on fresh storage. The
// tests below run against all of them: durability is every store's
// promise.
var stores = map[string]func(t *testing.T) opener{
	"bbolt": func(t *testing.T) opener {
		path := filepath.Join(t.TempDir(), "sub", "leases.db")
		return func(t *testing.T, observe func(time.Duration, int)) LeaseStore {
			t.Helper()
			st, err := openBoltStore(path, time.Second, observe)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	},
	"postgres": pgOpener, // pgstore_test.go
}

func forEachStore(t *testing.T, test func(t *testing.T, open opener)) {
	for name, fresh := range stores {
		t.Run(name, func(t *testing.T) { test(t, fresh(t)) })
	}
}

var (
	storeNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	bg       = context.Background()
)

// bindChange is client mac's lease on ip until storeNow+d.
func bindChange(ip, hw string, d time.Duration) Change {
	l := Lease{IP: netip.MustParseAddr(ip), MAC: hw, Hostname: "h-" + hw[len(hw)-2:], Expiry: storeNow.Add(d)}
	return Change{Lease: l, Client: keyFor(nil, mac(hw))}
}

func netip4(s string) netip.Addr { return netip.MustParseAddr(s) }

func sortLeases(ls []Lease) []Lease {
	sort.Slice(ls, func(i, j int) bool { return ls[i].IP.Less(ls[j].IP) })
	return ls
}

// sameLease compares records as stored: times to the microsecond (what
// PostgreSQL keeps), in any location.
func sameLease(a, b Lease) bool {
	a.Expiry, b.Expiry = a.Expiry.UTC().Truncate(time.Microsecond), b.Expiry.UTC().Truncate(time.Microsecond)
	return reflect.DeepEqual(a, b)
}

func TestStoreDurableAcrossReopen(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		st := open(t, nil)
		c := bindChange("10.0.0.9", "52:54:00:00:00:09", time.Hour)
		c.Lease.ClientID = "ff01"
		c.Client = keyFor([]byte{0xff, 0x01}, nil)
		if err := st.Commit(bg, storeNow, c); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st = open(t, nil)
		defer st.Close()
		got, err := st.List(bg)
		if err != nil || len(got) != 1 || !sameLease(got[0], c.Lease) {
			t.Fatalf("List after reopen: %+v, %v; want %+v", got, err, c.Lease)
		}
		if l, ok, err := st.ByAddr(bg, c.Lease.IP); err != nil || !ok || !sameLease(l, c.Lease) {
			t.Errorf("ByAddr: %+v %v %v", l, ok, err)
		}
		if l, ok, err := st.ByClient(bg, c.Client); err != nil || !ok || !sameLease(l, c.Lease) {
			t.Errorf("ByClient: %+v %v %v", l, ok, err)
		}
		if _, ok, err := st.ByClient(bg, keyFor(nil, mac("52:54:00:00:00:09"))); err != nil || ok {
			t.Errorf("ByClient by MAC of a client-id lease: %v %v", ok, err)
		}
		if _, ok, err := st.ByAddr(bg, netip.MustParseAddr("10.0.0.10")); err != nil || ok {
			t.Errorf("ByAddr of a free address: %v %v", ok, err)
		}
	})
}

func TestStoreGroupCommit(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		var txs atomic.Int64
		st := open(t, func(time.Duration, int) { txs.Add(1) })
		const n = 500
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := bindChange(addr(0x0a000000+uint32(i)).String(), fmt.Sprintf("52:54:00:00:%02x:%02x", i>>8, i&0xff), time.Hour)
				if err := st.Commit(bg, storeNow, c); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		st.Close()
		if got := txs.Load(); got >= n/2 {
			t.Errorf("%d writers used %d transactions: no grouping", n, got)
		}
		t.Logf("%d leases in %d transactions", n, txs.Load())
		st = open(t, nil)
		defer st.Close()
		if leases, err := st.List(bg); err != nil || len(leases) != n {
			t.Fatalf("%d leases back, %v", len(leases), err)
		}
	})
}

// TestStoreCommitRules: a commit writes only over what its client may
// take, decided inside the store.
func TestStoreCommitRules(t *testing.T) {
	const ip = "10.0.0.20"
	a, b := "52:54:00:00:00:0a", "52:54:00:00:00:0b"
	declined := func() Change {
		c := bindChange(ip, a, 10*time.Minute)
		c.Lease = Lease{IP: c.Lease.IP, Expiry: c.Lease.Expiry, Declined: true}
		c.Ending = true
		return c
	}
	ending := func(c Change) Change { c.Ending = true; return c }
	reserved := func(c Change) Change { c.Reserved = true; return c }
	tests := map[string]struct {
		before []Change // committed first, in order, each must succeed
		change Change
		taken  bool
		after  Lease // the record on ip afterwards
	}{
		"free address":           {change: bindChange(ip, b, time.Hour), after: bindChange(ip, b, time.Hour).Lease},
		"own lease renewed":      {before: []Change{bindChange(ip, a, time.Hour)}, change: bindChange(ip, a, 2*time.Hour), after: bindChange(ip, a, 2*time.Hour).Lease},
		"held by another client": {before: []Change{bindChange(ip, a, time.Hour)}, change: bindChange(ip, b, time.Hour), taken: true, after: bindChange(ip, a, time.Hour).Lease},
		"another's lease expired": {before: []Change{bindChange(ip, a, -time.Second)}, change: bindChange(ip, b, time.Hour),
			after: bindChange(ip, b, time.Hour).Lease},
		"expires exactly now": {before: []Change{bindChange(ip, a, 0)}, change: bindChange(ip, b, time.Hour), after: bindChange(ip, b, time.Hour).Lease},
		"reservation takes it": {before: []Change{bindChange(ip, a, time.Hour)}, change: reserved(bindChange(ip, b, time.Hour)),
			after: bindChange(ip, b, time.Hour).Lease},
		"declined address": {before: []Change{bindChange(ip, a, time.Hour), declined()}, change: bindChange(ip, b, time.Hour), taken: true,
			after: declined().Lease},
		"release by its client": {before: []Change{bindChange(ip, a, time.Hour)}, change: ending(bindChange(ip, a, 0)), after: bindChange(ip, a, 0).Lease},
		"release by another client is skipped": {before: []Change{bindChange(ip, a, time.Hour)}, change: ending(bindChange(ip, b, 0)),
			after: bindChange(ip, a, time.Hour).Lease},
	}
	forEachStore(t, func(t *testing.T, open opener) {
		st := open(t, nil)
		defer st.Close()
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				if _, err := st.Expire(bg, storeNow.Add(24*time.Hour)); err != nil {
					t.Fatal(err)
				}
				for _, c := range tc.before {
					if err := st.Commit(bg, storeNow, c); err != nil {
						t.Fatalf("setup: %v", err)
					}
				}
				err := st.Commit(bg, storeNow, tc.change)
				var te *TakenError
				switch {
				case tc.taken && (!errors.As(err, &te) || !errors.Is(err, ErrAddressTaken)):
					t.Fatalf("commit: %v, want a TakenError", err)
				case tc.taken && !sameLease(te.Holder, tc.after):
					t.Errorf("holder %+v, want %+v", te.Holder, tc.after)
				case !tc.taken && err != nil:
					t.Fatalf("commit: %v", err)
				}
				if l, ok, err := st.ByAddr(bg, netip.MustParseAddr(ip)); err != nil || !ok || !sameLease(l, tc.after) {
					t.Errorf("record afterwards %+v %v %v, want %+v", l, ok, err, tc.after)
				}
			})
		}
	})
}

// TestStoreMoveIsAtomic: a client's new lease and the end of its old one
// are written together, or neither when the new address is taken.
func TestStoreMoveIsAtomic(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		st := open(t, nil)
		defer st.Close()
		a, b := "52:54:00:00:00:0a", "52:54:00:00:00:0b"
		old := bindChange("10.0.0.30", a, time.Hour)
		for _, c := range []Change{old, bindChange("10.0.0.31", b, time.Hour)} {
			if err := st.Commit(bg, storeNow, c); err != nil {
				t.Fatal(err)
			}
		}
		ended := old
		ended.Lease.Expiry, ended.Ending = storeNow, true
		if err := st.Commit(bg, storeNow, bindChange("10.0.0.31", a, time.Hour), ended); !errors.Is(err, ErrAddressTaken) {
			t.Fatalf("move onto a taken address: %v", err)
		}
		if l, _, _ := st.ByAddr(bg, old.Lease.IP); !sameLease(l, old.Lease) {
			t.Errorf("the old lease was ended although the move failed: %+v", l)
		}
		if err := st.Commit(bg, storeNow, bindChange("10.0.0.32", a, time.Hour), ended); err != nil {
			t.Fatal(err)
		}
		if l, _, _ := st.ByAddr(bg, old.Lease.IP); !sameLease(l, ended.Lease) {
			t.Errorf("the old lease was not ended: %+v", l)
		}
		if l, ok, _ := st.ByClient(bg, old.Client); !ok || l.IP != netip.MustParseAddr("10.0.0.32") {
			t.Errorf("ByClient after the move: %+v %v", l, ok)
		}
	})
}

// TestStoreNeverTwoHolders: many clients race for few addresses; each
// address ends up with exactly the one client whose commit succeeded.
func TestStoreNeverTwoHolders(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		st := open(t, nil)
		defer st.Close()
		const addrs, clients = 8, 40
		var mu sync.Mutex
		winners := map[netip.Addr][]string{}
		var wg sync.WaitGroup
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hw := fmt.Sprintf("52:54:00:00:01:%02x", i)
				c := bindChange(addr(0x0a000100+uint32(i%addrs)).String(), hw, time.Hour)
				err := st.Commit(bg, storeNow, c)
				if err != nil && !errors.Is(err, ErrAddressTaken) {
					t.Error(err)
					return
				}
				if err == nil {
					mu.Lock()
					winners[c.Lease.IP] = append(winners[c.Lease.IP], hw)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		leases, err := st.List(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(leases) != addrs {
			t.Errorf("%d records, want %d", len(leases), addrs)
		}
		for _, l := range leases {
			if w := winners[l.IP]; len(w) != 1 || w[0] != l.MAC {
				t.Errorf("%v: record of %s, commits that succeeded: %v", l.IP, l.MAC, w)
			}
		}
	})
}

func TestStoreExpire(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		st := open(t, nil)
		defer st.Close()
		for i, d := range []time.Duration{-2 * time.Hour, -time.Minute, time.Hour} {
			if err := st.Commit(bg, storeNow, bindChange(fmt.Sprintf("10.0.0.%d", 40+i), fmt.Sprintf("52:54:00:00:02:%02x", i), d)); err != nil {
				t.Fatal(err)
			}
		}
		n, err := st.Expire(bg, storeNow.Add(-time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("Expire: %d, %v; want 1", n, err)
		}
		leases, _ := st.List(bg)
		sortLeases(leases)
		if len(leases) != 2 || leases[0].IP != netip.MustParseAddr("10.0.0.41") {
			t.Fatalf("left: %+v", leases)
		}
	})
}
