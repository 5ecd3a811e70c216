package ftp

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// requireIPv6 skips a test on a machine without IPv6 loopback.
func requireIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}

// logBuffer collects the server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// activeListener listens for an active data connection on addr and
// returns it with its port.
func activeListener(t *testing.T, addr string) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// retrActive downloads name over the data connection the server opens to
// ln after a successful PORT or EPRT.
func (c *client) retrActive(ln net.Listener, name string) string {
	c.t.Helper()
	c.send("RETR %s", name)
	d, err := ln.Accept()
	if err != nil {
		c.t.Fatal(err)
	}
	defer d.Close()
	c.expect(150)
	data, _ := io.ReadAll(d)
	c.expect(226)
	return string(data)
}

// TestIPv6DataConnections: on an IPv6 control connection, EPSV and EPRT
// to the client's own address move data; PASV and PORT, which carry IPv4
// addresses, get 522, as do EPRT and EPSV naming IPv4; the bounce rules
// hold for IPv6; EPSV ALL leaves only EPSV.
func TestIPv6DataConnections(t *testing.T) {
	requireIPv6(t)
	ts := newTestServerWith(t, Config{ActiveAnyPort: true}, map[string]string{"f": "six"}, testOptions{listen: "[::1]:0"})
	c := ts.dial(t)
	c.login("anonymous", "x")
	if got := c.retr("f"); string(got) != "six" {
		t.Fatalf("RETR over EPSV: %q", got)
	}
	ln, port := activeListener(t, "[::1]:0")
	c.cmd(200, "EPRT |2|::1|%d|", port)
	if got := c.retrActive(ln, "f"); got != "six" {
		t.Fatalf("RETR over EPRT: %q", got)
	}
	// A zone names an interface of the client: dropped, not refused.
	c.cmd(200, "EPRT |2|::1%%eth0|%d|", port)
	if got := c.retrActive(ln, "f"); got != "six" {
		t.Fatalf("RETR over EPRT with a zone: %q", got)
	}
	tests := map[string]struct {
		line string
		want string
	}{
		"PASV":             {"PASV", "522 PASV is IPv4 only; use EPSV."},
		"PORT":             {"PORT 127,0,0,1,8,0", "522 PORT is IPv4 only; use EPRT."},
		"EPRT IPv4":        {"EPRT |1|127.0.0.1|2048|", "522 Network protocol not supported, use (2)."},
		"EPRT another":     {"EPRT |2|::2|2048|", "500 Illegal EPRT command."},
		"EPRT low port":    {"EPRT |2|::1|80|", "500 Illegal EPRT command."},
		"EPRT mapped IPv4": {"EPRT |2|::ffff:127.0.0.1|2048|", "522 Network protocol not supported, use (2)."},
		"EPSV 1":           {"EPSV 1", "522 Network protocol not supported, use (2)."},
		"EPSV 3":           {"EPSV 3", "501 Syntax error in parameters."},
	}
	for name, tc := range tests {
		c.send("%s", tc.line)
		if _, text := c.read(); text != tc.want {
			t.Errorf("%s: %q, want %q", name, text, tc.want)
		}
	}
	if got := testutil.ToFloat64(ts.srv.m.refusals.WithLabelValues(reasonBadPort)); got != 5 {
		t.Errorf("port_refused = %v, want 5", got)
	}
	c.cmd(229, "EPSV 2")
	c.cmd(200, "EPSV ALL")
	for _, line := range []string{"PASV", "EPRT |2|::1|2048|", "PORT 127,0,0,1,8,0"} {
		c.send("%s", line)
		if _, text := c.read(); text != "503 EPSV ALL in effect; use EPSV." {
			t.Errorf("%s after EPSV ALL: %q", line, text)
		}
	}
	if got := c.retr("f"); string(got) != "six" {
		t.Fatalf("RETR over EPSV after EPSV ALL: %q", got)
	}
}

// TestIPv4OnDualStack: on a [::] listener an IPv4 client keeps PASV, EPSV
// and PORT, gets 522 for EPSV 2, and is logged and recorded as IPv4.
func TestIPv4OnDualStack(t *testing.T) {
	requireIPv6(t)
	var mu sync.Mutex
	var events []event.Event
	cfg := Config{ActiveAnyPort: true}
	cfg.Events = event.SinkFunc(func(e event.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	logs := &logBuffer{}
	ts := newTestServerWith(t, cfg, map[string]string{"f": "four"}, testOptions{listen: "[::]:0", log: logs})
	_, port, _ := net.SplitHostPort(ts.addr)
	ts.addr = "127.0.0.1:" + port
	c := ts.dial(t)
	c.login("anonymous", "x")
	if got := c.retr("f"); string(got) != "four" {
		t.Fatalf("RETR over EPSV: %q", got)
	}
	text := c.cmd(227, "PASV")
	if !strings.Contains(text, "(127,0,0,1,") {
		t.Errorf("PASV reply %q does not name 127.0.0.1", text)
	}
	c.cmd(522, "EPSV 2")
	ln, dport := activeListener(t, "127.0.0.1:0")
	c.cmd(200, "PORT 127,0,0,1,%d,%d", dport>>8, dport&0xff)
	if got := c.retrActive(ln, "f"); got != "four" {
		t.Fatalf("RETR over PORT: %q", got)
	}
	c.cmd(221, "QUIT")
	ts.waitIdle(t)
	ts.srv.Shutdown(t.Context())
	mu.Lock()
	defer mu.Unlock()
	for _, e := range events {
		if e.IP.String() != "127.0.0.1" {
			t.Errorf("event %+v, want IP 127.0.0.1", e)
		}
	}
	if l := logs.String(); !strings.Contains(l, `"remote":"127.0.0.1:`) || strings.Contains(l, "::ffff:") {
		t.Errorf("session not logged with remote 127.0.0.1:\n%s", l)
	}
}

// TestIPv6Logged: an IPv6 client's session is logged and its login
// recorded with its IPv6 address.
func TestIPv6Logged(t *testing.T) {
	requireIPv6(t)
	var mu sync.Mutex
	var events []event.Event
	cfg := Config{}
	cfg.Events = event.SinkFunc(func(e event.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	logs := &logBuffer{}
	ts := newTestServerWith(t, cfg, nil, testOptions{listen: "[::1]:0", log: logs})
	c := ts.dial(t)
	c.login("anonymous", "x")
	c.cmd(221, "QUIT")
	ts.srv.Shutdown(t.Context())
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0].IP.String() != "::1" {
		t.Errorf("events %+v, want a login from ::1", events)
	}
	if l := logs.String(); !strings.Contains(l, fmt.Sprintf(`"remote":"[::1]:%d"`, c.conn.LocalAddr().(*net.TCPAddr).Port)) {
		t.Errorf("session not logged with remote [::1]:\n%s", l)
	}
}
