package ftp

import (
	"strings"
	"testing"
	"time"
)

// TestPrepareReload: a bad config changes nothing; a good one changes who
// may log in and the banner for the connections that come after it, while
// a session logged in before keeps its account.
func TestPrepareReload(t *testing.T) {
	cfg := Config{Users: []User{{Name: "netops", PasswordHash: testHash, Write: true}}, Banner: "old banner"}
	cfg.Limits.LoginFailureDelay = time.Millisecond
	ts := newTestServer(t, cfg, map[string]string{"pub/x": "x"})
	before := ts.dial(t)
	before.login("netops", "secret")

	bad := cfg
	bad.Users = append(bad.Users, User{Name: "netops", PasswordHash: testHash})
	if _, err := ts.srv.PrepareReload(bad); err == nil {
		t.Fatal("a config with a duplicate user was accepted")
	}
	next := cfg
	next.Banner = "new banner"
	next.Users = []User{{Name: "ops2", PasswordHash: testHash}}
	apply, err := ts.srv.PrepareReload(next)
	if err != nil {
		t.Fatal(err)
	}
	apply()

	c := ts.dial(t)
	if !strings.Contains(c.greeting, "new banner") {
		t.Errorf("greeting after the reload: %q", c.greeting)
	}
	c.cmd(331, "USER netops")
	c.cmd(530, "PASS secret")
	c.login("ops2", "secret")
	// The session from before the reload keeps its account.
	before.cmd(257, "PWD")
}
