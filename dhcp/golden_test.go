package dhcp

import (
	"encoding/hex"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite golden reply files in testdata/")

// goldenRequests seed testdata/*.request.hex when -update is given and
// there is no file yet; after that the files are the source.
var goldenRequests = map[string]func() *dhcpv4.DHCPv4{
	"discover-plain": func() *dhcpv4.DHCPv4 { return discover("52:54:00:01:02:03") },
	"discover-bios-pxe": func() *dhcpv4.DHCPv4 {
		return discover("52:54:00:01:02:04",
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0})),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, []byte("0123456789abcdef")...))))
	},
	"discover-efi64-ipxe": func() *dhcpv4.DHCPv4 {
		return discover("52:54:00:01:02:05",
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003010")),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 7})),
			dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(175), []byte{0xb1, 5, 1, 0x10, 0xec, 0x81, 0x39})))
	},
	"discover-relayed-82": func() *dhcpv4.DHCPv4 {
		return discover("52:54:00:01:02:06", dhcpv4.WithRelay(net.IPv4(10, 1, 0, 1)),
			dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(1), []byte("eth0/1")))))
	},
	"discover-reserved": func() *dhcpv4.DHCPv4 { return discover("52:54:00:00:00:50") },
}

func TestGoldenPackets(t *testing.T) {
	for name, mk := range goldenRequests {
		t.Run(name, func(t *testing.T) {
			req := goldenRequest(t, name, mk)
			ts := newTestServer(t, testConfig(t))
			reply, to := ts.exchange(req)
			checkGolden(t, name, reply, to)
		})
	}
}

// goldenRequest is the stored request testdata/name.request.hex; with
// -update a missing one is first made by mk (with a fixed xid).
func goldenRequest(t *testing.T, name string, mk func() *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	path := filepath.Join("testdata", name+".request.hex")
	if _, err := os.Stat(path); os.IsNotExist(err) && *update {
		req := mk()
		req.TransactionID = dhcpv4.TransactionID{0xde, 0xad, 0xbe, 0xef}
		writeHex(t, path, req.ToBytes())
	}
	return mustParse(t, readHex(t, path))
}

// checkGolden compares a reply and where it went with
// testdata/name.reply.hex, which -update rewrites.
func checkGolden(t *testing.T, name string, reply *dhcpv4.DHCPv4, to *net.UDPAddr) {
	t.Helper()
	if reply == nil {
		t.Fatal("no reply")
	}
	path := filepath.Join("testdata", name+".reply.hex")
	got := to.String() + "\n" + hex.Dump(reply.ToBytes())
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("reply differs from %s (run with -update after checking):\n%s\nsummary: %s", path, got, reply.Summary())
	}
}

func mustParse(t *testing.T, b []byte) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeHex(t *testing.T, path string, b []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readHex(t testing.TB, path string) []byte {
	s, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(s)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzHandlePacket feeds arbitrary datagrams to the full handler: it must
// never panic (the handler's recover would count drops{reason="panic"}) and
// every reply must parse.
func FuzzHandlePacket(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.request.hex")
	for _, p := range files {
		f.Add(readHex(f, p))
	}
	f.Add([]byte{})
	ts := newTestServer(f, testConfig(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts.handlePacket(ts.conn, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 99), Port: 68}, b)
		if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("panic")); v != 0 {
			t.Fatalf("handler panicked on %x", b)
		}
		ts.conn.mu.Lock()
		ts.conn.sent = ts.conn.sent[:0]
		ts.conn.mu.Unlock()
	})
}
