package ftp

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// TestEvents: a login and a download are told to the boot timeline, the
// user name with the login, never the password.
func TestEvents(t *testing.T) {
	var mu sync.Mutex
	var got []event.Event
	cfg := Config{Users: []User{{Name: "netops", PasswordHash: testHash}}}
	cfg.Limits.LoginFailureDelay = time.Millisecond
	cfg.Events = event.SinkFunc(func(e event.Event) { mu.Lock(); got = append(got, e); mu.Unlock() })
	ts := newTestServer(t, cfg, map[string]string{"fw.bin": "firmware"})
	c := ts.dial(t)
	c.cmd(331, "USER netops")
	c.cmd(530, "PASS wrong")
	c.login("netops", "secret")
	if data := c.retr("fw.bin"); string(data) != "firmware" {
		t.Fatalf("RETR: %q", data)
	}
	ts.waitIdle(t)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("events %+v, want a failed login, a login and a transfer", got)
	}
	bad, ok, tr := got[0], got[1], got[2]
	if bad.Kind != event.Login || bad.Result != event.Failed || strings.Contains(bad.Detail, "wrong") {
		t.Errorf("failed login %+v", bad)
	}
	if ok.Kind != event.Login || ok.Result != event.OK || ok.Detail != "netops" || ok.Service != event.FTP || ok.IP.String() != "127.0.0.1" {
		t.Errorf("login %+v", ok)
	}
	if tr.Kind != event.Transfer || tr.File != "fw.bin" || tr.Bytes != 8 || tr.Result != event.OK {
		t.Errorf("transfer %+v", tr)
	}
}
