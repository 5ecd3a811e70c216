package ftp

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestControlLineChecks(t *testing.T) {
	ts := newTestServer(t, Config{}, map[string]string{"a": "a"})
	tests := map[string]struct {
		line string
		code int
	}{
		"too long":          {strings.Repeat("A", 5000), 500},
		"nul":               {"NOOP\x00x", 500},
		"embedded cr":       {"NOOP\rQUIT", 500},
		"unknown":           {"XYZZ", 500},
		"bad verb":          {"N0OP", 500},
		"site":              {"SITE CHMOD 777 a", 530},
		"list before login": {"LIST", 530},
		"retr before login": {"RETR a", 530},
		"cwd before login":  {"CWD /", 530},
		"port before login": {"PORT 127,0,0,1,200,10", 530},
		"syst open":         {"SYST", 215},
		"pass without user": {"PASS x", 503},
		"user any name":     {"USER nobody-at-all", 331},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := ts.dial(t)
			c.cmd(tc.code, "%s", tc.line)
			c.cmd(200, "NOOP") // the session survives
		})
	}
	m := testutil.ToFloat64(ts.srv.m.refusals.WithLabelValues(reasonLineTooLong))
	if m != 1 {
		t.Errorf("line_too_long refusals = %v", m)
	}
}

func TestLoggedInRefusals(t *testing.T) {
	ts := newTestServer(t, Config{}, map[string]string{"pub/a": "a"})
	c := ts.dial(t)
	c.login("ftp", "")
	tests := []struct {
		line string
		code int
	}{
		{"SITE EXEC /bin/sh", 502},
		{"SITE CHMOD 777 pub/a", 502},
		{"LIST -R", 504},
		{"NLST -laR /", 504},
		{"STAT -R", 504},
		{"PORT 10,0,0,1,200,10", 500},    // another host: bounce
		{"PORT 127,0,0,1,0,21", 500},     // privileged port
		{"EPRT |1|10.0.0.1|40000|", 500}, // another host
		{"EPRT |1|127.0.0.1|80|", 500},
		{"PORT 1,2,3", 501},
		{"EPRT |9|x|1|", 501},
		{"MODE B", 504},
		{"STRU R", 504},
		{"STRU F", 200},
		{"MODE S", 200},
		{"TYPE A", 200},
		{"TYPE I", 200},
		{"AUTH TLS", 502},
		{"HELP", 214},
		{"MFMT 20200101000000 pub/a", 500},
		{"RETR ../../../../etc/passwd", 550},
		{`RETR ..\..\etc\passwd`, 553},
		{"RETR /etc/passwd", 550},
		{"CWD ../..", 250}, // resolved to "/" inside the root
		{"SIZE pub/a", 213},
	}
	for _, tc := range tests {
		c.cmd(tc.code, "%s", tc.line)
	}
	if got := c.retr("pub/a"); string(got) != "a" {
		t.Fatalf("RETR after refusals = %q", got)
	}
}

func TestBruteForceDisconnect(t *testing.T) {
	cfg := Config{Users: []User{{Name: "netops", PasswordHash: testHash, Write: true}}}
	ts := newTestServer(t, cfg, nil)
	c := ts.dial(t)
	for i := 0; i < 3; i++ {
		c.cmd(331, "USER netops")
		c.cmd(530, "PASS wrong%d", i)
	}
	if code, text := c.read(); code != -1 {
		t.Fatalf("connection still open after 3 failures: %d %q", code, text)
	}
	if got := testutil.ToFloat64(ts.srv.m.logins.WithLabelValues("failure")); got != 3 {
		t.Errorf("failed logins = %v", got)
	}
	c = ts.dial(t)
	c.cmd(331, "USER nosuchuser")
	c.cmd(530, "PASS secret")
	c.login("netops", "secret")
}

func TestAnonymousDisabled(t *testing.T) {
	off := false
	ts := newTestServer(t, Config{Anonymous: Anonymous{Enabled: &off}}, nil)
	c := ts.dial(t)
	c.cmd(331, "USER anonymous")
	c.cmd(530, "PASS x")
}

func TestSessionCaps(t *testing.T) {
	ts := newTestServer(t, Config{Limits: Limits{MaxSessionsPerIP: 2}}, nil)
	ts.dial(t)
	ts.dial(t)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "421 ") {
		t.Fatalf("third session got %q, want 421", buf[:n])
	}
}

func TestPassiveForeignAddressRefused(t *testing.T) {
	// The control connection comes from 127.0.0.1; a data connection from
	// 127.0.0.2 (also loopback) must be refused and the real client served.
	ts := newTestServer(t, Config{}, map[string]string{"f": "data"})
	c := ts.dial(t)
	c.login("anonymous", "x")
	text := c.cmd(229, "EPSV")
	port := replyPort(229, text)
	foreign, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.0.2")},
		&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	c.send("RETR f")
	buf := make([]byte, 10)
	if n, err := foreign.Read(buf); err == nil {
		t.Fatalf("foreign data connection got %q", buf[:n])
	}
	d, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	c.expect(150)
	n, _ := d.Read(buf)
	if string(buf[:n]) != "data" {
		t.Fatalf("real client got %q", buf[:n])
	}
	d.Close()
	c.expect(226)
	if got := testutil.ToFloat64(ts.srv.m.refusals.WithLabelValues(reasonForeignData)); got != 1 {
		t.Errorf("foreign refusals = %v", got)
	}
}

func TestActiveMode(t *testing.T) {
	ts := newTestServer(t, Config{ActiveAnyPort: true}, map[string]string{"f": "active-data"})
	c := ts.dial(t)
	c.login("anonymous", "x")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c.cmd(200, "EPRT |1|127.0.0.1|%d|", port)
	c.send("RETR f")
	d, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.expect(150)
	buf := make([]byte, 64)
	n, _ := d.Read(buf)
	d.Close()
	c.expect(226)
	if string(buf[:n]) != "active-data" {
		t.Fatalf("active RETR = %q", buf[:n])
	}
	c.cmd(200, "PORT 127,0,0,1,%d,%d", port>>8, port&0xff)
}
