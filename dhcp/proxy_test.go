package dhcp

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// proxyConfig is a proxy beside another DHCP server on 10.0.0.0/24.
func proxyConfig() Config {
	return Config{
		Mode: "proxy", Interface: "lo", ServerIP: "10.0.0.1",
		Hosts: []Host{{MAC: "52:54:00:00:00:60", Bootfile: "special.kpxe"}},
		Boot: Boot{BIOS: "undionly.kpxe", EFI64: "snponly.efi", IPXE: "boot.ipxe",
			HTTP: "http://10.0.0.1:8080/images/ipxe.efi"},
		Rules: []Rule{{Match: RuleMatch{MACOUI: StringList{"00:1b:54"}}, Bootfile: "arm.efi"}},
	}
}

var (
	vcBIOS  = dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")
	vcEFI64 = dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")
	vcHTTP  = dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001")
	uuid97  = dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, []byte("0123456789abcdef")...))
)

func arch(n byte) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, n}))
}

func ipxeMods() []dhcpv4.Modifier {
	return []dhcpv4.Modifier{dhcpv4.WithOption(vcBIOS), arch(0), dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(175), []byte{0xb1, 5, 1, 0x10, 0xec, 0x81, 0x39}))}
}

// pxeRequest is a DHCPREQUEST from a client with an address, as iPXE sends
// it to the PXE port once the DHCP server has acknowledged.
func pxeRequest(hw string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	base := []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(mac(hw)),
		dhcpv4.WithClientIP(net.IPv4(10, 0, 0, 150)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1)))}
	m, err := dhcpv4.New(append(base, mods...)...)
	if err != nil {
		panic(err)
	}
	return m
}

// exchangeOn hands req to the server as if read on the DHCP port (onPXE
// false) or the PXE port, from peer.
func (ts *testServer) exchangeOn(onPXE bool, peer *net.UDPAddr, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, *net.UDPAddr) {
	ts.t.Helper()
	var conn net.PacketConn = ts.conn
	if onPXE {
		conn = pxePortConn{ts.conn}
	}
	n := len(ts.conn.sent)
	ts.serveOne(conn, peer, req.ToBytes())
	switch len(ts.conn.sent) - n {
	case 0:
		return nil, nil
	case 1:
		return ts.conn.sent[n].msg, ts.conn.sent[n].to
	}
	ts.t.Fatalf("%d replies to one request", len(ts.conn.sent)-n)
	return nil, nil
}

var (
	bcast68   = &net.UDPAddr{IP: net.IPv4(255, 255, 255, 255), Port: 68}
	client68  = &net.UDPAddr{IP: net.IPv4(10, 0, 0, 150), Port: 68}
	unbound68 = &net.UDPAddr{IP: net.IPv4zero, Port: 68}
)

func TestProxyReplies(t *testing.T) {
	for name, tc := range map[string]struct {
		req    *dhcpv4.DHCPv4
		onPXE  bool
		peer   *net.UDPAddr
		drop   string // reason; "" when a reply is expected
		typ    dhcpv4.MessageType
		file   string
		vc     string
		opt43  string // hex; "" means absent
		to     string
		client string // proxy_replies_total client label
	}{
		"bios pxe discover": {req: discover("52:54:00:01:00:01", dhcpv4.WithOption(vcBIOS), arch(0), dhcpv4.WithOption(uuid97)),
			typ: dhcpv4.MessageTypeOffer, file: "undionly.kpxe", vc: "PXEClient", opt43: "060108ff", to: "255.255.255.255:68", client: "bios"},
		"efi64 pxe discover": {req: discover("52:54:00:01:00:02", dhcpv4.WithOption(vcEFI64), arch(7)),
			typ: dhcpv4.MessageTypeOffer, file: "snponly.efi", vc: "PXEClient", opt43: "060108ff", to: "255.255.255.255:68", client: "efi64"},
		"efi64 arch from vendor class only": {req: discover("52:54:00:01:00:03", dhcpv4.WithOption(vcEFI64)),
			typ: dhcpv4.MessageTypeOffer, file: "snponly.efi", vc: "PXEClient", opt43: "060108ff", to: "255.255.255.255:68", client: "efi64"},
		"ipxe discover gets the script": {req: discover("52:54:00:01:00:04", ipxeMods()...),
			typ: dhcpv4.MessageTypeOffer, file: "boot.ipxe", vc: "PXEClient", opt43: "060108ff", to: "255.255.255.255:68", client: "ipxe"},
		"http boot discover": {req: discover("52:54:00:01:00:05", dhcpv4.WithOption(vcHTTP), arch(16)),
			typ: dhcpv4.MessageTypeOffer, file: "http://10.0.0.1:8080/images/ipxe.efi", vc: "HTTPClient", to: "255.255.255.255:68", client: "http"},
		"host bootfile": {req: discover("52:54:00:00:00:60", dhcpv4.WithOption(vcBIOS), arch(0)),
			typ: dhcpv4.MessageTypeOffer, file: "special.kpxe", vc: "PXEClient", opt43: "060108ff", to: "255.255.255.255:68", client: "bios"},
		"rule bootfile for an arch the policy lacks": {req: discover("00:1b:54:00:00:01", dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00011:UNDI:003000")), arch(11)),
			typ: dhcpv4.MessageTypeOffer, file: "arm.efi", vc: "PXEClient", opt43: "060108ff", to: "255.255.255.255:68", client: "rule"},
		"discover with ciaddr goes to it": {req: discover("52:54:00:01:00:06", dhcpv4.WithOption(vcBIOS), arch(0), dhcpv4.WithClientIP(net.IPv4(10, 0, 0, 150))),
			typ: dhcpv4.MessageTypeOffer, file: "undionly.kpxe", vc: "PXEClient", opt43: "060108ff", to: "10.0.0.150:68", client: "bios"},
		"non-pxe discover ignored":    {req: discover("52:54:00:01:00:07"), drop: "not_pxe"},
		"other vendor class ignored":  {req: discover("52:54:00:01:00:08", dhcpv4.WithOption(dhcpv4.OptClassIdentifier("MSFT 5.0"))), drop: "not_pxe"},
		"nothing for efi32":           {req: discover("52:54:00:01:00:09", dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00006:UNDI:003000")), arch(6)), drop: "no_bootfile"},
		"request to the dhcp server":  {req: pxeRequest("52:54:00:01:00:0a", dhcpv4.WithOption(vcBIOS), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 2)))), drop: "other_server"},
		"request without id on 67":    {req: pxeRequest("52:54:00:01:00:0b", dhcpv4.WithOption(vcBIOS), dhcpv4.WithoutOption(dhcpv4.OptionServerIdentifier)), drop: "other_server"},
		"release on 67":               {req: pxeRequest("52:54:00:01:00:0c", dhcpv4.WithOption(vcBIOS), dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease)), drop: "unexpected_type"},
		"discover on the pxe port":    {req: discover("52:54:00:01:00:0d", dhcpv4.WithOption(vcBIOS)), onPXE: true, peer: client68, drop: "unexpected_type"},
		"non-pxe request on pxe port": {req: pxeRequest("52:54:00:01:00:0e"), onPXE: true, peer: client68, drop: "not_pxe"},
		"pxe port request, other id":  {req: pxeRequest("52:54:00:01:00:0f", dhcpv4.WithOption(vcBIOS), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 9)))), onPXE: true, peer: client68, drop: "other_server"},
		"request naming us on 67 acks": {req: pxeRequest("52:54:00:01:00:10", dhcpv4.WithOption(vcBIOS), arch(0)),
			typ: dhcpv4.MessageTypeAck, file: "undionly.kpxe", vc: "PXEClient", opt43: "060108ff", to: "10.0.0.150:68", client: "bios"},
		"ipxe proxy request on pxe port": {req: pxeRequest("52:54:00:01:00:11", ipxeMods()...), onPXE: true, peer: &net.UDPAddr{IP: net.IPv4(10, 0, 0, 150), Port: 68},
			typ: dhcpv4.MessageTypeAck, file: "boot.ipxe", vc: "PXEClient", opt43: "060108ff", to: "10.0.0.150:68", client: "ipxe"},
		"efi binl request, no server id, odd port": {req: pxeRequest("52:54:00:01:00:12", dhcpv4.WithOption(vcEFI64), arch(7), dhcpv4.WithoutOption(dhcpv4.OptionServerIdentifier)),
			onPXE: true, peer: &net.UDPAddr{IP: net.IPv4(10, 0, 0, 150), Port: 1025},
			typ: dhcpv4.MessageTypeAck, file: "snponly.efi", vc: "PXEClient", opt43: "060108ff", to: "10.0.0.150:1025", client: "efi64"},
		"boot server request echoes the boot item": {req: pxeRequest("52:54:00:01:00:13", dhcpv4.WithOption(vcBIOS), arch(0),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{0, 71, 4, 0x80, 0, 0, 0, 255}))),
			onPXE: true, peer: client68, typ: dhcpv4.MessageTypeAck, file: "undionly.kpxe", vc: "PXEClient", opt43: "06010847048000000" + "0ff", to: "10.0.0.150:68", client: "bios"},
		"inform on pxe port": {req: pxeRequest("52:54:00:01:00:14", dhcpv4.WithOption(vcBIOS), arch(0), dhcpv4.WithMessageType(dhcpv4.MessageTypeInform)),
			onPXE: true, peer: client68, typ: dhcpv4.MessageTypeAck, file: "undionly.kpxe", vc: "PXEClient", opt43: "060108ff", to: "10.0.0.150:68", client: "bios"},
		"pxe port request from no address is broadcast": {req: pxeRequest("52:54:00:01:00:15", dhcpv4.WithOption(vcBIOS), arch(0)),
			onPXE: true, peer: unbound68, typ: dhcpv4.MessageTypeAck, file: "undionly.kpxe", vc: "PXEClient", opt43: "060108ff", to: "255.255.255.255:68", client: "bios"},
	} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, proxyConfig())
			peer := tc.peer
			if peer == nil {
				peer = unbound68
			}
			port := "dhcp"
			if tc.onPXE {
				port = "pxe"
			}
			resp, to := ts.exchangeOn(tc.onPXE, peer, tc.req)
			if tc.drop != "" {
				if resp != nil {
					t.Fatalf("want drop %q, got %s", tc.drop, resp.Summary())
				}
				if v := testutil.ToFloat64(ts.m.drops.WithLabelValues(tc.drop)); v != 1 {
					t.Errorf("drops_total{%s} = %v", tc.drop, v)
				}
				return
			}
			if resp == nil {
				t.Fatal("no reply")
			}
			if resp.MessageType() != tc.typ || !resp.YourIPAddr.Equal(net.IPv4zero) || resp.TransactionID != tc.req.TransactionID {
				t.Errorf("type %s yiaddr %s xid %s", resp.MessageType(), resp.YourIPAddr, resp.TransactionID)
			}
			if resp.ServerIdentifier().String() != "10.0.0.1" || resp.ServerIPAddr.String() != "10.0.0.1" {
				t.Errorf("server id %s siaddr %s", resp.ServerIdentifier(), resp.ServerIPAddr)
			}
			if got := string(resp.Options.Get(dhcpv4.OptionBootfileName)); got != tc.file {
				t.Errorf("bootfile %q, want %q", got, tc.file)
			}
			if got := resp.ClassIdentifier(); got != tc.vc {
				t.Errorf("option 60 %q, want %q", got, tc.vc)
			}
			if got := hex.EncodeToString(resp.Options.Get(dhcpv4.OptionVendorSpecificInformation)); got != tc.opt43 {
				t.Errorf("option 43 %s, want %s", got, tc.opt43)
			}
			if to.String() != tc.to {
				t.Errorf("sent to %s, want %s", to, tc.to)
			}
			for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionIPAddressLeaseTime, dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter} {
				if resp.Options.Has(code) {
					t.Errorf("a proxy reply carries %s", code)
				}
			}
			if uuid := tc.req.Options.Get(dhcpv4.OptionClientMachineIdentifier); uuid != nil &&
				!bytes.Equal(resp.Options.Get(dhcpv4.OptionClientMachineIdentifier), uuid) {
				t.Error("option 97 not echoed")
			}
			if tc.typ == dhcpv4.MessageTypeAck && !resp.ClientIPAddr.Equal(tc.req.ClientIPAddr) {
				t.Errorf("ciaddr %s not echoed", resp.ClientIPAddr)
			}
			if v := testutil.ToFloat64(ts.px.replies.WithLabelValues(port, tc.client)); v != 1 {
				t.Errorf("proxy_replies_total{%s,%s} = %v", port, tc.client, v)
			}
			if v := testutil.ToFloat64(ts.m.replies.WithLabelValues(typeName(tc.typ))); v != 1 {
				t.Errorf("replies_total{%s} = %v", typeName(tc.typ), v)
			}
			if len(ts.Leases()) != 0 {
				t.Errorf("proxy keeps leases: %v", ts.Leases())
			}
		})
	}
}

func TestProxyConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		edit    func(*Config)
		key     string
		message string
	}{
		"ok":              {func(*Config) {}, "", ""},
		"pxe port off":    {func(c *Config) { c.PXEPort = -1 }, "", ""},
		"pools refused":   {func(c *Config) { c.Pools = []Pool{{Subnet: "10.0.0.0/24"}} }, "pools", "no addresses"},
		"host ip":         {func(c *Config) { c.Hosts[0].IP = "10.0.0.5" }, "hosts[0].ip", "no addresses"},
		"pxe port range":  {func(c *Config) { c.PXEPort = 70000 }, "pxe_port", "1-65535"},
		"pxe port = port": {func(c *Config) { c.PXEPort = 67 }, "pxe_port", "differ"},
		"nothing to boot": {func(c *Config) { c.Boot = Boot{}; c.Rules = nil; c.Hosts = nil }, "boot", "nothing to tell"},
		"only a rule":     {func(c *Config) { c.Boot = Boot{}; c.Hosts = nil }, "", ""},
		"no interface":    {func(c *Config) { c.Interface = "" }, "interface", "required"},
		"bad boot url":    {func(c *Config) { c.Boot.HTTP = "ftp://x" }, "boot.http", "URL"},
	} {
		c := proxyConfig()
		tc.edit(&c)
		err := c.Validate()
		if tc.key == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		checkKeyError(t, name, err, tc.key, tc.message)
	}
	d := proxyConfig().WithDefaults()
	if d.LeaseFile != "" || d.PXEPort != 4011 || d.Port != 67 {
		t.Errorf("proxy defaults: lease_file %q pxe_port %d port %d", d.LeaseFile, d.PXEPort, d.Port)
	}
}

// TestProxyOpensNoLeaseFile: a proxy given a lease_file still never opens
// it, and exports no pool series.
func TestProxyOpensNoLeaseFile(t *testing.T) {
	cfg := proxyConfig()
	cfg.LeaseFile = filepath.Join(t.TempDir(), "leases.db")
	ts := newTestServer(t, cfg)
	ts.exchange(discover("52:54:00:02:00:01", dhcpv4.WithOption(vcBIOS)))
	if _, err := os.Stat(cfg.LeaseFile); !os.IsNotExist(err) {
		t.Errorf("lease file exists: %v", err)
	}
	if n, err := testutil.GatherAndCount(ts.reg, "bootsrv_dhcp_leases_in_use", "bootsrv_dhcp_pool_size"); err != nil || n != 0 {
		t.Errorf("pool series %d %v", n, err)
	}
	if err := ts.Close(); err != nil {
		t.Error(err)
	}
}

// TestServePXEOverUDP runs both ports on real sockets: the PXE port's ACK
// goes back to the request's source address and port.
func TestServePXEOverUDP(t *testing.T) {
	ts := newTestServer(t, proxyConfig())
	listen := func() net.PacketConn {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dhcpConn, pxeConn, cli := listen(), listen(), listen()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- ts.Serve(ctx, dhcpConn) }()
	go func() { done <- ts.ServePXE(ctx, pxeConn) }()
	req := pxeRequest("52:54:00:03:00:01", ipxeMods()...)
	if _, err := cli.WriteTo(req.ToBytes(), pxeConn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := cli.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := dhcpv4.FromBytes(buf[:n])
	if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.TransactionID != req.TransactionID ||
		string(ack.Options.Get(dhcpv4.OptionBootfileName)) != "boot.ipxe" {
		t.Fatalf("ack %v %v", ack, err)
	}
	// iPXE accepts a ProxyDHCPACK only from the PXE port.
	if from.String() != pxeConn.LocalAddr().String() {
		t.Errorf("ack from %s, want %s", from, pxeConn.LocalAddr())
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	server := newTestServer(t, testConfig(t))
	if err := server.ServePXE(context.Background(), pxeConn); err == nil {
		t.Error("ServePXE runs in server mode")
	}
}

func TestPXEBootItem(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"absent":       {"", ""},
		"only control": {"060108ff", ""},
		"item":         {"47040080000" + "1ff", "00800001"},
		"after pad":    {"000047048000000" + "0", "80000000"},
		"after other":  {"0601084704000a0001ff", "000a0001"},
		"short item":   {"470200", ""},
		"truncated":    {"4704008000", ""},
		"bad length":   {"06ff08", ""},
		"after end":    {"ff4704008000", ""},
	} {
		in, _ := hex.DecodeString(tc.in)
		if got := hex.EncodeToString(pxeBootItem(in)); got != tc.want {
			t.Errorf("%s: %s, want %q", name, got, tc.want)
		}
	}
}

// proxyGoldenRequests seed testdata/proxy-*.request.hex under -update.
var proxyGoldenRequests = map[string]struct {
	onPXE bool
	mk    func() *dhcpv4.DHCPv4
}{
	"proxy-discover-bios-pxe": {false, func() *dhcpv4.DHCPv4 {
		return discover("52:54:00:04:00:01", dhcpv4.WithOption(vcBIOS), arch(0), dhcpv4.WithOption(uuid97))
	}},
	"proxy-discover-efi64": {false, func() *dhcpv4.DHCPv4 { return discover("52:54:00:04:00:02", dhcpv4.WithOption(vcEFI64), arch(7)) }},
	"proxy-discover-ipxe":  {false, func() *dhcpv4.DHCPv4 { return discover("52:54:00:04:00:03", ipxeMods()...) }},
	"proxy-discover-http":  {false, func() *dhcpv4.DHCPv4 { return discover("52:54:00:04:00:04", dhcpv4.WithOption(vcHTTP), arch(16)) }},
	"proxy-pxeport-request-ipxe": {true, func() *dhcpv4.DHCPv4 {
		return pxeRequest("52:54:00:04:00:05", ipxeMods()...)
	}},
}

func TestProxyGoldenPackets(t *testing.T) {
	for name, g := range proxyGoldenRequests {
		t.Run(name, func(t *testing.T) {
			req := goldenRequest(t, name, g.mk)
			ts := newTestServer(t, proxyConfig())
			peer := unbound68
			if g.onPXE {
				peer = client68
			}
			reply, to := ts.exchangeOn(g.onPXE, peer, req)
			checkGolden(t, name, reply, to)
		})
	}
}

// FuzzProxyPacket feeds arbitrary datagrams to a proxy on both ports: no
// panic, and every reply parses (recordConn panics otherwise) and carries
// no address.
func FuzzProxyPacket(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.request.hex")
	for _, p := range files {
		f.Add(readHex(f, p), strings.Contains(p, "pxeport"))
	}
	ts := newTestServer(f, proxyConfig())
	f.Fuzz(func(t *testing.T, b []byte, onPXE bool) {
		var conn net.PacketConn = ts.conn
		if onPXE {
			conn = pxePortConn{ts.conn}
		}
		ts.handlePacket(conn, client68, b)
		if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("panic")); v != 0 {
			t.Fatalf("handler panicked on %x", b)
		}
		ts.conn.mu.Lock()
		defer ts.conn.mu.Unlock()
		for _, s := range ts.conn.sent {
			if !s.msg.YourIPAddr.Equal(net.IPv4zero) {
				t.Fatalf("proxy offered an address: %s", s.msg.Summary())
			}
		}
		ts.conn.sent = ts.conn.sent[:0]
	})
}

func FuzzPXEBootItem(f *testing.F) {
	f.Add([]byte{6, 1, 8, 71, 4, 0x80, 0, 0, 0, 255})
	f.Add([]byte{0, 71, 4, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if item := pxeBootItem(b); item != nil && len(item) != 4 {
			t.Fatalf("item %x from %x", item, b)
		}
	})
}

// TestIPXEWithoutScript: with no ipxe entry, an iPXE client (a VM's ROM)
// gets its architecture's bootfile in both modes, unless that file was
// found to be an iPXE build; server and proxy answer alike.
func TestIPXEWithoutScript(t *testing.T) {
	boot := Boot{BIOS: "pxelinux.0", EFI64: "snponly.efi"}
	server := testConfig(t)
	server.Boot = boot
	proxy := proxyConfig()
	proxy.Boot, proxy.Rules = boot, nil
	for mode, cfg := range map[string]Config{"server": server, "proxy": proxy} {
		cfg.IPXEBuilds = []string{"snponly.efi"}
		for name, tc := range map[string]struct {
			mods []dhcpv4.Modifier
			file string // "" expects no bootfile
		}{
			"bios ipxe gets pxelinux":      {mods: ipxeMods(), file: "pxelinux.0"},
			"efi64 ipxe, bootfile is ipxe": {mods: []dhcpv4.Modifier{dhcpv4.WithOption(vcEFI64), arch(7), dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE"))}},
			"efi64 firmware gets it":       {mods: []dhcpv4.Modifier{dhcpv4.WithOption(vcEFI64), arch(7)}, file: "snponly.efi"},
		} {
			t.Run(mode+"/"+name, func(t *testing.T) {
				ts := newTestServer(t, cfg)
				resp, _ := ts.exchangeOn(false, unbound68, discover("52:54:00:02:00:01", tc.mods...))
				if mode == "proxy" && tc.file == "" {
					if resp != nil {
						t.Fatalf("proxy answered: %s", resp.Summary())
					}
					if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("no_bootfile")); v != 1 {
						t.Errorf("drops_total{no_bootfile} = %v", v)
					}
					return
				}
				if resp == nil {
					t.Fatal("no reply")
				}
				if got := resp.BootFileNameOption(); got != tc.file || resp.BootFileName != tc.file {
					t.Errorf("bootfile %q / file %q, want %q", got, resp.BootFileName, tc.file)
				}
				if tc.file != "" && (resp.ClassIdentifier() != "PXEClient" || hex.EncodeToString(resp.Options.Get(dhcpv4.OptionVendorSpecificInformation)) != "060108ff") {
					t.Errorf("option 60 %q, option 43 %x: want a PXE reply", resp.ClassIdentifier(), resp.Options.Get(dhcpv4.OptionVendorSpecificInformation))
				}
			})
		}
	}
}
