package ftp

import (
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bootsrv/bootsrv/internal/netnstest"
)

// TestLinkLocal runs in a network namespace of its own, the server fe80::1
// on v0 and the client fe80::2 on v1. EPSV works over the link-local
// address; EPRT naming the client's own link-local address gets 502
// (the library would dial it without its zone), naming another one 500.
func TestLinkLocal(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	netnstest.Veth(t, "v0", "1", "v1", "2")
	ts := newTestServerWith(t, Config{}, map[string]string{"f": "link-local"}, testOptions{listen: "[::]:0"})
	_, port, _ := net.SplitHostPort(ts.addr)
	ts.addr = "[fe80::1%v1]:" + port
	c := ts.dial(t)
	c.login("anonymous", "x")
	for range 2 {
		if got := c.retr("f"); string(got) != "link-local" {
			t.Fatalf("RETR over EPSV: %q", got)
		}
	}
	c.send("EPRT |2|fe80::2%%v1|2048|")
	if _, text := c.read(); text != "502 Active mode cannot reach link-local addresses; use EPSV." {
		t.Errorf("EPRT to the client's own link-local address: %q", text)
	}
	c.cmd(500, "EPRT |2|fe80::3|2048|")
	if got := testutil.ToFloat64(ts.srv.m.refusals.WithLabelValues(reasonForeignData)); got != 0 {
		t.Errorf("foreign data connections refused: %v", got)
	}
}
