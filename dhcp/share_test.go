package dhcp

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// sharedServer is one of several test servers on one database, with the
// test server config: id a, b, ... at 10.0.0.1, .2, ...
func sharedServer(t *testing.T, dsn string, n int) *testServer {
	cfg := testConfig(t)
	cfg.LeaseFile = ""
	cfg.ServerIP = fmt.Sprintf("10.0.0.%d", n+1)
	cfg.LeaseStore = LeaseStoreConfig{Type: StorePostgres, DSN: dsn, ServerID: string(rune('a' + n))}
	return newTestServer(t, cfg)
}

// sharedPair is two servers on a fresh database, each knowing the other.
func sharedPair(t *testing.T) (a, b *testServer) {
	dsn := testDSN(t)
	a, b = sharedServer(t, dsn, 0), sharedServer(t, dsn, 1)
	a.shareTick(bg)
	if a.share.aliveCount() != 2 || b.share.aliveCount() != 2 {
		t.Fatalf("alive: a sees %d, b %d", a.share.aliveCount(), b.share.aliveCount())
	}
	return a, b
}

// macFor returns a MAC whose client ts is the preferred server of.
func macFor(t *testing.T, ts *testServer, prefix string) string {
	for i := range 256 {
		hw := fmt.Sprintf("%s:%02x", prefix, i)
		if ts.share.preferred(keyFor(nil, mac(hw))) {
			return hw
		}
	}
	t.Fatalf("no MAC under %s hashes to %s", prefix, ts.share.self.id)
	return ""
}

// kill makes ts's heartbeat stale, as if it had died, and lets the others
// see it.
func kill(t *testing.T, ts *testServer, others ...*testServer) {
	t.Helper()
	if _, err := ts.share.st.pool.Exec(bg, "UPDATE bootsrv_servers SET heartbeat = now() - interval '1 hour' WHERE id = $1", ts.share.self.id); err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		o.shareTick(bg)
	}
}

func withServerID(sid string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(sid)))
}

// TestSharedOneReplyPerClient: of two healthy servers only one answers a
// client's DISCOVER and its broadcast REQUESTs.
func TestSharedOneReplyPerClient(t *testing.T) {
	a, b := sharedPair(t)
	for i := range 40 {
		hw := fmt.Sprintf("52:54:00:bb:00:%02x", i)
		ra, _ := a.exchange(discover(hw))
		rb, _ := b.exchange(discover(hw))
		if (ra == nil) == (rb == nil) {
			t.Fatalf("%s: a answered %v, b answered %v", hw, ra != nil, rb != nil)
		}
	}
	if got := testutil.ToFloat64(a.m.drops.WithLabelValues("peer_client")) + testutil.ToFloat64(b.m.drops.WithLabelValues("peer_client")); got != 40 {
		t.Errorf("peer_client drops %v, want 40", got)
	}
	if a.table.parts != 2 || b.table.parts != 2 || a.table.part == b.table.part {
		t.Errorf("range split: a %d/%d, b %d/%d", a.table.part, a.table.parts, b.table.part, b.table.parts)
	}
}

// TestSharedConflictNaks: two servers offer one address to two clients;
// the database lets one commit it, the other NAKs and then offers its
// client another address.
func TestSharedConflictNaks(t *testing.T) {
	a, b := sharedPair(t)
	x, y := macFor(t, a, "52:54:00:bb:01"), macFor(t, b, "52:54:00:bb:02")
	ox, _ := a.exchange(discover(x))
	oy, _ := b.exchange(discover(y, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ox.YourIPAddr))))
	if oy == nil || !oy.YourIPAddr.Equal(ox.YourIPAddr) {
		t.Fatalf("b did not offer %v: %v", ox.YourIPAddr, oy)
	}
	if r, _ := a.exchange(requestFor(ox)); r == nil || r.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("a: %v", r)
	}
	r, _ := b.exchange(requestFor(oy))
	if r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("b acknowledged an address the database gave a's client: %v", r)
	}
	if v := testutil.ToFloat64(b.m.conflicts); v != 1 {
		t.Errorf("b conflicts_total = %v", v)
	}
	again := b.dora(y)
	if again.YourIPAddr.Equal(ox.YourIPAddr) {
		t.Fatalf("b offered %v again", again.YourIPAddr)
	}
	leases, _ := a.store.List(bg)
	seen := map[string]string{}
	for _, l := range leases {
		if l.Active(a.clock) {
			if other, dup := seen[l.IP.String()]; dup {
				t.Errorf("%v held by %s and %s", l.IP, other, l.MAC)
			}
			seen[l.IP.String()] = l.MAC
		}
	}
	if seen[ox.YourIPAddr.String()] != x || len(seen) != 2 {
		t.Errorf("database: %v", seen)
	}
}

// TestSharedFailover: a client leased by one server renews (REBINDING),
// or reboots (INIT-REBOOT), through the other once the first one's
// heartbeat is stale, and keeps its address; reservations the same.
func TestSharedFailover(t *testing.T) {
	a, b := sharedPair(t)
	for name, tc := range map[string]struct {
		hw     string
		second func(hw string, ip net.IP) *dhcpv4.DHCPv4
	}{
		"rebinding": {macFor(t, a, "52:54:00:bb:03"), func(hw string, ip net.IP) *dhcpv4.DHCPv4 { return renewing(hw, ip) }},
		"init-reboot": {macFor(t, b, "52:54:00:bb:07"), func(hw string, ip net.IP) *dhcpv4.DHCPv4 {
			return newRequest(hw, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)))
		}},
		"reservation": {"52:54:00:00:00:50", func(hw string, ip net.IP) *dhcpv4.DHCPv4 { return renewing(hw, ip) }},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := a, b
			if !a.share.preferred(keyFor(nil, mac(tc.hw))) {
				a, b = b, a
			}
			first := a.dora(tc.hw)
			ip := first.YourIPAddr
			if r, _ := b.exchange(tc.second(tc.hw, ip)); r != nil {
				t.Fatalf("%s answered %s's client while %s is alive: %v", b.share.self.id, a.share.self.id, a.share.self.id, r)
			}
			kill(t, a, b)
			r, _ := b.exchange(tc.second(tc.hw, ip))
			if r == nil || r.MessageType() != dhcpv4.MessageTypeAck || !r.YourIPAddr.Equal(ip) {
				t.Fatalf("after %s died, %s answered %v (want an ACK of %v)", a.share.self.id, b.share.self.id, r, ip)
			}
			if l, _, _ := b.store.ByAddr(bg, ipOf(ip)); l.Server != b.share.self.id || l.MAC != tc.hw {
				t.Errorf("record after the failover: %+v", l)
			}
			a.shareTick(bg) // a is back
			b.shareTick(bg)
		})
	}
}

// TestSharedStoreDown: with the database down a server sends no OFFER and
// no ACK, says so, and serves again by itself once the database is back.
func TestSharedStoreDown(t *testing.T) {
	a, _ := sharedPair(t)
	hw := macFor(t, a, "52:54:00:bb:04")
	ack := a.dora(hw)
	if err := pgCluster.StopServer(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			pgCluster.StartServer()
		}
	}()
	a.shareTick(bg)
	if a.Degraded() == "" {
		t.Fatal("not degraded with the database down")
	}
	if r, _ := a.exchange(discover(macFor(t, a, "52:54:00:bb:05"))); r != nil {
		t.Fatalf("offer with the database down: %v", r)
	}
	if r, _ := a.exchange(renewing(hw, ack.YourIPAddr)); r != nil {
		t.Fatalf("renewal answered with the database down: %v", r)
	}
	if v := testutil.ToFloat64(a.m.drops.WithLabelValues("store_unavailable")); v != 2 {
		t.Errorf("store_unavailable drops = %v", v)
	}
	if err := pgCluster.StartServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	a.shareTick(bg)
	if why := a.Degraded(); why != "" {
		t.Fatalf("still degraded: %s", why)
	}
	if r, _ := a.exchange(renewing(hw, ack.YourIPAddr)); r == nil || r.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("renewal after the database came back: %v", r)
	}
}

// TestSharedPeerIsNotRogue: a REQUEST naming the other server of the
// group is left to it without reporting a rogue server.
func TestSharedPeerIsNotRogue(t *testing.T) {
	a, _ := sharedPair(t)
	if r, _ := a.exchange(selecting("52:54:00:bb:06:01", net.IPv4(10, 0, 0, 120), withServerID("10.0.0.2"))); r != nil {
		t.Fatalf("answered a REQUEST for the peer: %v", r)
	}
	if v := testutil.ToFloat64(a.safety.rogue.count.WithLabelValues("request")); v != 0 {
		t.Errorf("the peer was reported as another server (%v)", v)
	}
}

// TestRendezvousSpreadsClients: clients spread evenly over the alive
// servers, and when one dies only its clients move.
func TestRendezvousSpreadsClients(t *testing.T) {
	group := func(ids ...string) []*sharing {
		var alive []peer
		for _, id := range ids {
			alive = append(alive, peer{id: id})
		}
		var out []*sharing
		for _, p := range alive {
			out = append(out, &sharing{self: p, alive: alive})
		}
		return out
	}
	owner := func(g []*sharing, k ClientKey) string {
		var who []string
		for _, sh := range g {
			if sh.preferred(k) {
				who = append(who, sh.self.id)
			}
		}
		if len(who) != 1 {
			t.Fatalf("%q preferred by %v", k, who)
		}
		return who[0]
	}
	three, two := group("10.0.0.1", "10.0.0.2", "10.0.0.3"), group("10.0.0.1", "10.0.0.3")
	const n = 3000
	count := map[string]int{}
	for i := range n {
		k := keyFor(nil, mac(fmt.Sprintf("52:54:00:cc:%02x:%02x", i>>8, i&0xff)))
		before, after := owner(three, k), owner(two, k)
		count[before]++
		if before != "10.0.0.2" && after != before {
			t.Fatalf("%q moved from %s to %s though %s is alive", k, before, after, before)
		}
	}
	for id, c := range count {
		if c < n/3*8/10 || c > n/3*12/10 {
			t.Errorf("%s prefers %d of %d clients", id, c, n)
		}
	}
}

// TestSharedLogsNoDSN: the connection string, password and all, is in no
// log line, whatever the level.
func TestSharedLogsNoDSN(t *testing.T) {
	dsn := testDSN(t) + " password=s3cret"
	cfg := testConfig(t)
	cfg.LeaseFile = ""
	cfg.LeaseStore = LeaseStoreConfig{Type: StorePostgres, DSN: dsn}
	var logs strings.Builder
	s, err := New(cfg, nil, zerolog.New(&syncWriter{w: &logs}).Level(zerolog.DebugLevel), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, t: t, reg: prometheus.NewRegistry(), clock: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), conn: &recordConn{}}
	s.now = func() time.Time { return ts.clock }
	ts.dora("52:54:00:bb:08:01")
	s.Close()
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), dsn) || !strings.Contains(logs.String(), "dhcp leases loaded") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestSharedDiscoverAfterFailover: a client of a dead server that starts
// over with a DISCOVER is offered its address by the survivor.
func TestSharedDiscoverAfterFailover(t *testing.T) {
	a, b := sharedPair(t)
	hw := macFor(t, a, "52:54:00:bb:09")
	ip := a.dora(hw).YourIPAddr
	kill(t, a, b)
	o, _ := b.exchange(discover(hw))
	if o == nil || !o.YourIPAddr.Equal(ip) {
		t.Fatalf("b offered %v, want %v", o, ip)
	}
}
