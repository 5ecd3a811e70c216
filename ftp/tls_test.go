package ftp

import (
	"bufio"
	"crypto/tls"
	"io"
	"strings"
	"testing"

	"github.com/bootsrv/bootsrv/internal/testcert"
)

func tlsTestServer(t *testing.T, require bool) *testServer {
	cert, key := testcert.Write(t)
	cfg := Config{
		TLS:   TLS{Cert: cert, Key: key, Require: require},
		Users: []User{{Name: "netops", PasswordHash: testHash, Write: true}},
	}
	return newTestServer(t, cfg, map[string]string{"fw.bin": "firmware-bytes"})
}

// startTLS sends AUTH TLS and switches the client to TLS (RFC 4217 §4).
func (c *client) startTLS() {
	c.t.Helper()
	c.cmd(234, "AUTH TLS")
	c.upgrade()
}

func (c *client) upgrade() {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// TestTLSRequired: with tls.require, USER before AUTH TLS is refused (530,
// RFC 4217 §11), data commands before PROT P are refused (521, §9), PROT C
// is refused by policy (534), and after AUTH TLS, PBSZ 0 and PROT P a
// download works over a TLS data connection.
func TestTLSRequired(t *testing.T) {
	ts := tlsTestServer(t, true)
	c := ts.dial(t)
	if feat := c.cmd(211, "FEAT"); !strings.Contains(feat, " AUTH TLS") || !strings.Contains(feat, " PROT") {
		t.Errorf("FEAT without AUTH TLS: %q", feat)
	}
	c.cmd(530, "USER netops")
	c.cmd(503, "PASS secret") // no USER was accepted
	c.cmd(503, "PBSZ 0")      // needs AUTH first
	c.startTLS()
	c.cmd(331, "USER netops")
	c.cmd(230, "PASS secret")
	c.cmd(521, "RETR fw.bin") // no PROT P yet
	c.cmd(200, "PBSZ 0")
	c.cmd(534, "PROT C")
	c.cmd(521, "LIST")
	c.cmd(200, "PROT P")
	d := c.pasv()
	defer d.Close()
	c.cmd(150, "RETR fw.bin")
	td := tls.Client(d, &tls.Config{InsecureSkipVerify: true})
	got, err := io.ReadAll(td)
	if err != nil {
		t.Fatalf("TLS data read: %v", err)
	}
	if string(got) != "firmware-bytes" {
		t.Fatalf("RETR over TLS = %q", got)
	}
	c.expect(226)
	c.cmd(221, "QUIT")
}

// TestTLSOptional: without tls.require, plaintext logins still work and
// AUTH TLS is offered; AUTH after login is refused (503).
func TestTLSOptional(t *testing.T) {
	ts := tlsTestServer(t, false)
	c := ts.dial(t)
	c.login("netops", "secret")
	c.cmd(503, "AUTH TLS")
	if got := c.retr("fw.bin"); string(got) != "firmware-bytes" {
		t.Fatalf("plain RETR = %q", got)
	}
}

// TestAUTHTLSDiscardsPipelinedPlaintext: "AUTH TLS\r\nUSER netops\r\n" in
// one write must not run the USER (it was sent before the handshake, so
// an attacker on the path could have injected it; CVE-2011-0411). After
// the handshake PASS finds no user, 503.
func TestAUTHTLSDiscardsPipelinedPlaintext(t *testing.T) {
	ts := tlsTestServer(t, false)
	c := ts.dial(t)
	if _, err := io.WriteString(c.conn, "AUTH TLS\r\nUSER netops\r\n"); err != nil {
		t.Fatal(err)
	}
	c.expect(234)
	c.upgrade()
	c.cmd(503, "PASS secret")
	c.login("netops", "secret") // the session itself is fine
	c.cmd(257, "PWD")
}
