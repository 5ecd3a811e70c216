package tftp

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// requireIPv6 skips a test on a machine without IPv6 loopback.
func requireIPv6(t *testing.T) {
	t.Helper()
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	c.Close()
}

// TestIPv6: a server on [::1] serves an IPv6 client from its transfer
// socket on [::1], and logs and records the peer as an IPv6 address.
func TestIPv6(t *testing.T) {
	requireIPv6(t)
	data := randBytes(100_000)
	events := &eventLog{}
	cfg := fastConfig()
	cfg.Events = events
	ts := newTestServerOn(t, "[::1]:0", cfg, map[string][]byte{"f": data})
	got, _, err := get(ts.addr, "f", "octet", 1468, true)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get over IPv6: %d bytes, %v", len(got), err)
	}
	r := newRawFrom(t, ts.addr, "::1")
	if got, _ := rawGet(t, r, request(opRRQ, "f", "octet"), 512); !bytes.Equal(got, data) {
		t.Fatalf("raw get: %d bytes", len(got))
	}
	if r.last.IP.String() != "::1" || r.last.Port == r.srv.Port {
		t.Errorf("transfer answered from %v, want ::1 and a port of its own", r.last)
	}
	eventually(t, "two events", func() bool { return len(events.all()) == 2 })
	for _, e := range events.all() {
		if e.Kind != event.Transfer || e.IP.String() != "::1" {
			t.Errorf("event %+v, want a transfer from ::1", e)
		}
	}
	if logs := ts.logs.String(); !strings.Contains(logs, `"peer":"[::1]:`) {
		t.Errorf("no transfer logged with peer [::1]:\n%s", logs)
	}
}

// TestDualStack: one listener on [::] serves IPv4 and IPv6 clients, each
// from a transfer socket of its own family on the address it asked, and
// an IPv4 client is logged and recorded as IPv4, never as ::ffff:a.b.c.d.
func TestDualStack(t *testing.T) {
	requireIPv6(t)
	data := randBytes(3000)
	events := &eventLog{}
	cfg := fastConfig()
	cfg.Events = events
	ts := newTestServerOn(t, "[::]:0", cfg, map[string][]byte{"f": data})
	_, port, _ := net.SplitHostPort(ts.addr)
	tests := map[string]struct{ client, server string }{
		"IPv4": {"127.0.0.1", "127.0.0.1:" + port},
		"IPv6": {"::1", "[::1]:" + port},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRawFrom(t, tc.server, tc.client)
			if got, _ := rawGet(t, r, request(opRRQ, "f", "octet"), 512); !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes", len(got))
			}
			if r.last.IP.String() != tc.client {
				t.Errorf("answered from %v, want %s", r.last.IP, tc.client)
			}
		})
	}
	eventually(t, "two events", func() bool { return len(events.all()) == 2 })
	seen := map[string]bool{}
	for _, e := range events.all() {
		seen[e.IP.String()] = true
	}
	if !seen["127.0.0.1"] || !seen["::1"] {
		t.Errorf("events name %v, want 127.0.0.1 and ::1", seen)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, `"peer":"127.0.0.1:`) || !strings.Contains(logs, `"peer":"[::1]:`) {
		t.Errorf("transfers not logged with peers 127.0.0.1 and [::1]:\n%s", logs)
	}
	if strings.Contains(logs, "::ffff:") {
		t.Errorf("an IPv4-mapped address in the log:\n%s", logs)
	}
}
