package ftp

import (
	"strings"
	"testing"
)

func TestAnonymousDownload(t *testing.T) {
	ts := newTestServer(t, Config{}, map[string]string{"boot/pxelinux.0": "pxe-data", "a.txt": "hello"})
	c := ts.dial(t)
	c.cmd(215, "SYST")
	feat := c.cmd(211, "FEAT")
	if !strings.Contains(feat, "EPSV") || strings.Contains(feat, "AUTH TLS") {
		t.Errorf("FEAT = %q", feat)
	}
	c.login("anonymous", "x@y")
	c.cmd(257, "PWD")
	c.cmd(250, "CWD boot")
	c.cmd(213, "SIZE pxelinux.0")
	if got := c.retr("pxelinux.0"); string(got) != "pxe-data" {
		t.Fatalf("RETR = %q", got)
	}
	c.cmd(250, "CDUP")
	c.cmd(350, "REST 2")
	if got := c.retr("a.txt"); string(got) != "llo" {
		t.Fatalf("REST+RETR = %q", got)
	}
	c.cmd(550, "RETR nope")
	c.cmd(550, "STOR x")
	c.cmd(550, "DELE a.txt")
	c.cmd(550, "MKD d")
	c.cmd(221, "QUIT")
}
