package dhcp

import (
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// testConfig serves 10.0.0.0/24 locally and 10.1.0.0/24 through a relay.
func testConfig(t testing.TB) Config {
	return Config{
		Mode: "server", Interface: "lo", ServerIP: "10.0.0.1", Authoritative: true,
		LeaseFile: filepath.Join(t.TempDir(), "leases.db"),
		Pools: []Pool{
			{Subnet: "10.0.0.0/24", Range: "10.0.0.100-10.0.0.200", Router: "10.0.0.1", DNS: []string{"10.0.0.1", "10.0.0.2"},
				Domain: "lab", NTP: []string{"10.0.0.3"}, MTU: 1400, LeaseTime: time.Hour, Options: Options{224: "u16:8080"}},
			{Subnet: "10.1.0.0/24", Range: "10.1.0.10-10.1.0.11", LeaseTime: 10 * time.Minute},
		},
		Hosts: []Host{
			{MAC: "52:54:00:00:00:50", IP: "10.0.0.50", Hostname: "node1", Options: Options{66: "other.tftp"}},
			{ClientID: "ff:00:00:00:01", IP: "10.0.0.51", Hostname: "byid"},
		},
		Boot: Boot{BIOS: "undionly.kpxe", EFI64: "snponly.efi", IPXE: "boot.ipxe"},
	}
}

type sent struct {
	msg *dhcpv4.DHCPv4
	to  *net.UDPAddr
}

// recordConn is a PacketConn that records what the server writes.
type recordConn struct {
	net.PacketConn
	mu   sync.Mutex
	sent []sent
}

func (c *recordConn) WriteTo(b []byte, a net.Addr) (int, error) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, sent{m, a.(*net.UDPAddr)})
	return len(b), nil
}

type testServer struct {
	*Server
	t     testing.TB
	reg   *prometheus.Registry
	clock time.Time
	conn  *recordConn
}

func newTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, nil, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, t: t, reg: reg, clock: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), conn: &recordConn{}}
	s.now = func() time.Time { return ts.clock }
	t.Cleanup(func() { s.Close() })
	return ts
}

// exchange hands req to the server as Serve does (a REQUEST's ACK comes
// from the lease store's committer) and returns its reply, or nil.
func (ts *testServer) exchange(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	ts.t.Helper()
	n := len(ts.conn.sent)
	ts.serveOne(ts.conn, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 99), Port: 68}, req.ToBytes())
	switch len(ts.conn.sent) - n {
	case 0:
		return nil, nil
	case 1:
		last := ts.conn.sent[n]
		return last.msg, last.to
	}
	ts.t.Fatalf("%d replies to one request", len(ts.conn.sent)-n)
	return nil, nil
}

// serveOne answers datagram b from peer as Serve's reader does, and waits
// for its reply: tests call it from one goroutine.
func (ts *testServer) serveOne(conn net.PacketConn, peer net.Addr, b []byte) {
	out, acks := ts.newOutbox(conn), ts.ackOutbox(conn)
	ts.dispatch(ts.newWork(peer, b), out, acks)
	out.flush()
	ts.running.Wait()
}

func mac(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

func discover(hw string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.NewDiscovery(mac(hw), mods...)
	if err != nil {
		panic(err)
	}
	return m
}

func requestFor(offer *dhcpv4.DHCPv4, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.NewRequestFromOffer(offer, mods...)
	if err != nil {
		panic(err)
	}
	return m
}

func (ts *testServer) dora(hw string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	ts.t.Helper()
	offer, _ := ts.exchange(discover(hw, mods...))
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		ts.t.Fatalf("no offer for %s: %v", hw, offer)
	}
	ack, _ := ts.exchange(requestFor(offer, mods...))
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		ts.t.Fatalf("no ack for %s: %v", hw, ack)
	}
	return ack
}

func TestDORAOptionsAndDurability(t *testing.T) {
	cfg := testConfig(t)
	ts := newTestServer(t, cfg)
	offer, to := ts.exchange(discover("52:54:00:aa:00:01"))
	if offer.MessageType() != dhcpv4.MessageTypeOffer || to.String() != "255.255.255.255:68" {
		t.Fatalf("offer %v to %v", offer, to)
	}
	ip := offer.YourIPAddr.String()
	if ip != "10.0.0.100" {
		t.Fatalf("offered %s", ip)
	}
	ack, _ := ts.exchange(requestFor(offer))
	if ack.MessageType() != dhcpv4.MessageTypeAck || ack.YourIPAddr.String() != ip {
		t.Fatalf("ack %v", ack)
	}
	if got := ack.IPAddressLeaseTime(0); got != time.Hour {
		t.Errorf("lease time %v", got)
	}
	if t1, t2 := ack.IPAddressRenewalTime(0), ack.IPAddressRebindingTime(0); t1 != 30*time.Minute || t2 != 52*time.Minute+30*time.Second {
		t.Errorf("T1 %v T2 %v", t1, t2)
	}
	if ack.ServerIdentifier().String() != "10.0.0.1" || net.IP(ack.SubnetMask()).String() != "255.255.255.0" ||
		ack.Router()[0].String() != "10.0.0.1" || len(ack.DNS()) != 2 || ack.DomainName() != "lab" ||
		ack.NTPServers()[0].String() != "10.0.0.3" || string(ack.Options.Get(dhcpv4.GenericOptionCode(224))) != "\x1f\x90" ||
		string(ack.Options.Get(dhcpv4.OptionInterfaceMTU)) != "\x05\x78" {
		t.Errorf("options: %s", ack.Summary())
	}
	if ack.BootFileName != "" || ack.Options.Has(dhcpv4.OptionBootfileName) {
		t.Error("boot info sent to a non-PXE client")
	}
	// The ACKed lease is on disk: a new server on the same file has it.
	ts.Close()
	ts2 := newTestServer(t, cfg)
	leases := ts2.Leases()
	if len(leases) != 1 || leases[0].IP.String() != ip || leases[0].MAC != "52:54:00:aa:00:01" || !leases[0].Expiry.Equal(ts.clock.Add(time.Hour)) {
		t.Fatalf("after reopen: %+v", leases)
	}
	// and the client gets the same address again.
	if again := ts2.dora("52:54:00:aa:00:01"); again.YourIPAddr.String() != ip {
		t.Fatalf("client moved to %s", again.YourIPAddr)
	}
	if v := testutil.ToFloat64(ts2.m.replies.WithLabelValues("ack")); v != 1 {
		t.Errorf("replies_total{ack} = %v", v)
	}
}

func TestAllocation(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	// A requested address (option 50) is honoured when free.
	offer, _ := ts.exchange(discover("52:54:00:aa:00:02", dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 150)))))
	if offer.YourIPAddr.String() != "10.0.0.150" {
		t.Errorf("requested .150, offered %s", offer.YourIPAddr)
	}
	// Reservation by MAC, with host name and host options.
	ack := ts.dora("52:54:00:00:00:50")
	if ack.YourIPAddr.String() != "10.0.0.50" || ack.HostName() != "node1" || ack.TFTPServerName() != "other.tftp" {
		t.Errorf("reservation: %s", ack.Summary())
	}
	// Option 61 takes precedence over chaddr: same MAC, two ids, two addresses.
	a := ts.dora("52:54:00:aa:00:03", dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{0xff, 1})))
	b := ts.dora("52:54:00:aa:00:03", dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{0xff, 2})))
	if a.YourIPAddr.Equal(b.YourIPAddr) {
		t.Errorf("two client ids share %s", a.YourIPAddr)
	}
	if string(a.Options.Get(dhcpv4.OptionClientIdentifier)) != "\xff\x01" {
		t.Error("client id not echoed (RFC 6842)")
	}
	// Reservation by client id, whatever the MAC.
	c := ts.dora("52:54:00:aa:00:04", dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{0xff, 0, 0, 0, 1})))
	if c.YourIPAddr.String() != "10.0.0.51" || c.HostName() != "byid" {
		t.Errorf("client-id reservation: %s", c.Summary())
	}
	// A MAC reservation holds for a client that sends a DUID client id.
	duid := ts.dora("52:54:00:00:00:50", dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{0xff, 9, 9, 9, 9, 0, 2, 0, 0, 0, 1})))
	if duid.YourIPAddr.String() != "10.0.0.50" {
		t.Errorf("MAC reservation with a DUID client id: got %s", duid.YourIPAddr)
	}
	// Nobody else is offered a reserved address, even when asking for it.
	o, _ := ts.exchange(discover("52:54:00:aa:00:05", dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 50)))))
	if o.YourIPAddr.String() == "10.0.0.50" {
		t.Error("reserved address offered to another client")
	}
}

func TestRequestStates(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	ack := ts.dora("52:54:00:bb:00:01")
	ip := ack.YourIPAddr
	hw := mac("52:54:00:bb:00:01")
	mk := func(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		m, _ := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest)}, mods...)...)
		return m
	}
	// INIT-REBOOT: requested address, no server id, no ciaddr.
	r, to := ts.exchange(mk(dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))))
	if r.MessageType() != dhcpv4.MessageTypeAck || to.IP.String() != "255.255.255.255" {
		t.Fatalf("init-reboot: %v to %v", r, to)
	}
	// RENEWING: unicast with ciaddr; reply to ciaddr:68, lease extended.
	ts.clock = ts.clock.Add(40 * time.Minute)
	r, to = ts.exchange(mk(dhcpv4.WithClientIP(ip)))
	if r.MessageType() != dhcpv4.MessageTypeAck || to.String() != ip.String()+":68" || !r.ClientIPAddr.Equal(ip) {
		t.Fatalf("renew: %v to %v", r, to)
	}
	if l := ts.Leases()[0]; !l.Expiry.Equal(ts.clock.Add(time.Hour)) {
		t.Errorf("renew did not extend: %v", l.Expiry)
	}
	// REBINDING: broadcast flag, ciaddr; same answer.
	r, _ = ts.exchange(mk(dhcpv4.WithClientIP(ip), dhcpv4.WithBroadcast(true)))
	if r.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("rebind: %v", r)
	}
	// INIT-REBOOT on the wrong network: authoritative NAK, broadcast.
	r, to = ts.exchange(mk(dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 168, 9, 9)))))
	if r.MessageType() != dhcpv4.MessageTypeNak || to.IP.String() != "255.255.255.255" || !r.YourIPAddr.IsUnspecified() {
		t.Fatalf("wrong network: %v to %v", r, to)
	}
	// INIT-REBOOT from a client we have no record of, for a free address:
	// NAK when authoritative (RFC 2131 §4.3.2), never an ACK.
	stranger := mk(dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 120))))
	stranger.ClientHWAddr = mac("52:54:00:bb:00:09")
	if r, _ = ts.exchange(stranger); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("init-reboot without a record: %v", r)
	}
	// Someone else's address: NAK.
	other := mk(dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)))
	other.ClientHWAddr = mac("52:54:00:bb:00:02")
	if r, _ = ts.exchange(other); r.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("taken address: %v", r)
	}
	// A REQUEST naming another server drops our offer silently.
	o, _ := ts.exchange(discover("52:54:00:bb:00:03"))
	req := requestFor(o, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 9))))
	if r, _ = ts.exchange(req); r != nil {
		t.Fatalf("answered a request for another server: %v", r)
	}
}

// TestClientMovesFreesOldAddress: a client leased on the relayed segment
// that comes up on the local one ends its old lease when bound there.
func TestClientMovesFreesOldAddress(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	o, _ := ts.exchange(relayed(discover("52:54:00:16:00:01")))
	first, _ := ts.exchange(relayed(requestFor(o)))
	if first == nil || first.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("relayed lease: %v", first)
	}
	if moved := ts.dora("52:54:00:16:00:01"); !ts.comp().pools[0].prefix.Contains(ipOf(moved.YourIPAddr)) {
		t.Fatalf("local lease %s", moved.YourIPAddr)
	}
	o, _ = ts.exchange(relayed(discover("52:54:00:16:00:02", dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(first.YourIPAddr)))))
	if !o.YourIPAddr.Equal(first.YourIPAddr) {
		t.Fatalf("old address %s not free after the client moved: offered %s", first.YourIPAddr, o.YourIPAddr)
	}
}

func TestNotAuthoritativeStaysSilent(t *testing.T) {
	cfg := testConfig(t)
	cfg.Authoritative = false
	ts := newTestServer(t, cfg)
	m, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac("52:54:00:cc:00:01")), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 168, 9, 9))))
	if r, _ := ts.exchange(m); r != nil {
		t.Fatalf("non-authoritative server answered: %v", r)
	}
	if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("not_authoritative")); v != 1 {
		t.Errorf("drops = %v", v)
	}
}

func TestReleaseDeclineExpiry(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	relay := func(m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 { m.GatewayIPAddr = net.IPv4(10, 1, 0, 1); return m }
	doraRelay := func(hw string) *dhcpv4.DHCPv4 {
		o, _ := ts.exchange(relay(discover(hw)))
		if o == nil {
			return nil
		}
		a, _ := ts.exchange(relay(requestFor(o)))
		return a
	}
	// The relayed pool has two addresses.
	a, b := doraRelay("52:54:00:dd:00:01"), doraRelay("52:54:00:dd:00:02")
	if a == nil || b == nil {
		t.Fatal("no leases")
	}
	if c := doraRelay("52:54:00:dd:00:03"); c != nil {
		t.Fatalf("pool of 2 gave a third lease %v", c.YourIPAddr)
	}
	// RELEASE gives a's address back.
	rel, _ := dhcpv4.NewReleaseFromACK(a)
	if r, _ := ts.exchange(rel); r != nil {
		t.Fatal("release answered")
	}
	c := doraRelay("52:54:00:dd:00:03")
	if c == nil || !c.YourIPAddr.Equal(a.YourIPAddr) {
		t.Fatalf("released address not reused: %v", c)
	}
	// DECLINE quarantines b's address for decline_time.
	dec, _ := dhcpv4.New(dhcpv4.WithHwAddr(b.ClientHWAddr), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(b.YourIPAddr)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))))
	ts.exchange(dec)
	if d := doraRelay("52:54:00:dd:00:04"); d != nil {
		t.Fatalf("declined address handed out: %v", d.YourIPAddr)
	}
	ts.clock = ts.clock.Add(11 * time.Minute) // past decline_time and all 10m leases
	d := doraRelay("52:54:00:dd:00:04")
	if d == nil {
		t.Fatal("expired and quarantined addresses not given back")
	}
}

func TestRelayAndOption82(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	rai := dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(1), []byte("port7")))
	d := discover("52:54:00:ee:00:01", dhcpv4.WithOption(rai), dhcpv4.WithRelay(net.IPv4(10, 1, 0, 1)))
	o, to := ts.exchange(d)
	if o == nil || to.String() != "10.1.0.1:67" || o.YourIPAddr.String() != "10.1.0.10" {
		t.Fatalf("relayed offer %v to %v", o, to)
	}
	if string(o.Options.Get(dhcpv4.OptionRelayAgentInformation)) != string(d.Options.Get(dhcpv4.OptionRelayAgentInformation)) {
		t.Error("option 82 not echoed")
	}
	// Relay from a subnet with no pool: dropped.
	if o, _ := ts.exchange(discover("52:54:00:ee:00:02", dhcpv4.WithRelay(net.IPv4(10, 9, 0, 1)))); o != nil {
		t.Fatal("answered a relay without a pool")
	}
}

func TestPXEReply(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	uuid := append([]byte{0}, make([]byte, 16)...)
	d := discover("52:54:00:ff:00:01",
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0})),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, uuid)))
	o, _ := ts.exchange(d)
	if o.BootFileName != "undionly.kpxe" || o.ServerIPAddr.String() != "10.0.0.1" || o.ServerHostName != "10.0.0.1" ||
		o.BootFileNameOption() != "undionly.kpxe" || o.ClassIdentifier() != "PXEClient" ||
		string(o.Options.Get(dhcpv4.OptionVendorSpecificInformation)) != "\x06\x01\x08\xff" ||
		string(o.Options.Get(dhcpv4.OptionClientMachineIdentifier)) != string(uuid) {
		t.Fatalf("PXE offer: %s", o.Summary())
	}
	// The same machine running iPXE gets the script.
	d.UpdateOption(dhcpv4.OptUserClass("iPXE"))
	if o, _ = ts.exchange(d); o.BootFileName != "boot.ipxe" || o.Options.Has(dhcpv4.OptionVendorSpecificInformation) {
		t.Fatalf("iPXE offer: %s", o.Summary())
	}
}

func TestInform(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	m, _ := dhcpv4.NewInform(mac("52:54:00:12:00:01"), net.IPv4(10, 0, 0, 7))
	r, to := ts.exchange(m)
	if r.MessageType() != dhcpv4.MessageTypeAck || !r.YourIPAddr.IsUnspecified() || r.Options.Has(dhcpv4.OptionIPAddressLeaseTime) ||
		to.String() != "10.0.0.7:68" || len(r.DNS()) != 2 {
		t.Fatalf("inform: %v to %v", r, to)
	}
	if len(ts.Leases()) != 0 {
		t.Fatal("inform created a lease")
	}
}

func TestCommitFailureSendsNoAck(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	o, _ := ts.exchange(discover("52:54:00:13:00:01"))
	ts.store.(*boltStore).failCommit = func() error { return errDiskFull }
	if r, _ := ts.exchange(requestFor(o)); r != nil {
		t.Fatalf("ACK sent although the commit failed: %v", r)
	}
	if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("commit_failed")); v != 1 {
		t.Errorf("drops{commit_failed} = %v", v)
	}
	if l := ts.Leases(); len(l) != 0 {
		t.Fatalf("uncommitted lease kept: %+v", l)
	}
}

func TestMalformedDropped(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 300)} {
		ts.handlePacket(ts.conn, &net.UDPAddr{}, b)
	}
	if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("malformed")); v != 3 || len(ts.conn.sent) != 0 {
		t.Fatalf("malformed drops %v, sent %d", v, len(ts.conn.sent))
	}
}

func TestMetricsPools(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	ts.dora("52:54:00:14:00:01")
	for _, want := range []struct {
		name string
		pool string
		v    float64
	}{{"bootsrv_dhcp_pool_size", "10.0.0.0/24", 101}, {"bootsrv_dhcp_leases_in_use", "10.0.0.0/24", 1}, {"bootsrv_dhcp_leases_in_use", "10.1.0.0/24", 0}} {
		mfs, _ := ts.reg.Gather()
		found := false
		for _, mf := range mfs {
			if mf.GetName() != want.name {
				continue
			}
			for _, m := range mf.Metric {
				if m.Label[0].GetValue() == want.pool {
					found = m.GetGauge().GetValue() == want.v
				}
			}
		}
		if !found {
			t.Errorf("%s{pool=%q} != %v", want.name, want.pool, want.v)
		}
	}
	if n, _ := testutil.GatherAndCount(ts.reg, "bootsrv_dhcp_lease_commit_duration_seconds"); n != 1 {
		t.Errorf("commit histogram: %d", n)
	}
}
