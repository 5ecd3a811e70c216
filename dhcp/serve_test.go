package dhcp

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/images"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// TestServeOverUDP runs Serve on a real socket on 127.0.0.1:0.
func TestServeOverUDP(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ts.redirect = func(*net.UDPAddr) *net.UDPAddr { return cli.LocalAddr().(*net.UDPAddr) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx, srv) }()
	d := discover("52:54:00:15:00:01")
	if _, err := cli.WriteTo(d.ToBytes(), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := cli.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dhcpv4.FromBytes(buf[:n])
	if err != nil || o.MessageType() != dhcpv4.MessageTypeOffer || o.TransactionID != d.TransactionID {
		t.Fatalf("offer %v %v", o, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := ts.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	srv.Close()
}

func TestReplyAddr(t *testing.T) {
	bc := netip.MustParseAddr("255.255.255.255")
	for name, tc := range map[string]struct {
		giaddr, ciaddr net.IP
		nak            bool
		want           string
	}{
		"relay":       {giaddr: net.IPv4(10, 1, 0, 1), ciaddr: net.IPv4(10, 1, 0, 5), want: "10.1.0.1:67"},
		"relay nak":   {giaddr: net.IPv4(10, 1, 0, 1), nak: true, want: "10.1.0.1:67"},
		"ciaddr":      {ciaddr: net.IPv4(10, 0, 0, 5), want: "10.0.0.5:68"},
		"ciaddr nak":  {ciaddr: net.IPv4(10, 0, 0, 5), nak: true, want: "255.255.255.255:68"},
		"no address":  {want: "255.255.255.255:68"},
		"zero giaddr": {giaddr: net.IPv4zero, want: "255.255.255.255:68"},
	} {
		req, _ := dhcpv4.New(dhcpv4.WithGatewayIP(tc.giaddr), dhcpv4.WithClientIP(tc.ciaddr))
		mt := dhcpv4.MessageTypeAck
		if tc.nak {
			mt = dhcpv4.MessageTypeNak
		}
		resp, _ := dhcpv4.New(dhcpv4.WithMessageType(mt))
		if got := replyAddr(req, resp, bc, 67, 68).String(); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func TestMissingBootfileWarnings(t *testing.T) {
	store, err := images.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		scripts []string
		warn    bool
	}{
		{"not in the store", nil, true},
		{"served as a boot script", []string{"boot.ipxe"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Boot = Boot{IPXE: "boot.ipxe"}
			cfg.Scripts = tc.scripts
			var logs bytes.Buffer
			s, err := New(cfg, store, zerolog.New(&logs), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := strings.Contains(logs.String(), `"bootfile":"boot.ipxe"`); got != tc.warn {
				t.Errorf("warning about boot.ipxe: got %v, want %v; logs:\n%s", got, tc.warn, logs.String())
			}
		})
	}
}
