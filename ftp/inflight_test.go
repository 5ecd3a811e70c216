package ftp

import (
	"bytes"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/internal/inflight"
)

// TestInFlight: an upload is listed while it runs, with the bytes received
// so far (counted per chunk) and its user, and once stored it is
// remembered with who sent it; a download leaves the list when it ends.
func TestInFlight(t *testing.T) {
	reg := inflight.New(0, 0)
	cfg := Config{Users: []User{{Name: "netops", PasswordHash: testHash, Write: true}}, Transfers: reg}
	cfg.Limits.LoginFailureDelay = time.Millisecond
	ts := newTestServer(t, cfg, map[string]string{"fw.bin": "firmware", "incoming/.keep": ""})
	c := ts.dial(t)
	c.login("netops", "secret")

	d := c.pasv()
	c.cmd(150, "STOR incoming/sw1.bin")
	data := bytes.Repeat([]byte("x"), chunk+100)
	if _, err := d.Write(data[:chunk]); err != nil {
		t.Fatal(err)
	}
	var st []inflight.Status
	eventually(t, "the first chunk counted", func() bool {
		st = reg.Running()
		return len(st) == 1 && st[0].Bytes == chunk
	})
	if s := st[0]; s.Service != "ftp" || !s.Upload || s.File != "incoming/sw1.bin" || s.User != "netops" || s.Peer != "127.0.0.1" || s.Size != -1 {
		t.Errorf("running: %+v", s)
	}
	d.Write(data[chunk:])
	d.Close()
	c.expect(226)
	ts.waitIdle(t)
	u, ok := reg.Uploader("incoming/sw1.bin")
	if !ok || u.User != "netops" || u.Bytes != int64(len(data)) || u.Service != "ftp" {
		t.Errorf("upload remembered: %+v %v", u, ok)
	}
	if got := c.retr("fw.bin"); string(got) != "firmware" {
		t.Fatalf("RETR: %q", got)
	}
	ts.waitIdle(t)
	if st := reg.Running(); len(st) != 0 {
		t.Errorf("still running: %+v", st)
	}
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
