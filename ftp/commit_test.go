package ftp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
)

// waitIdle waits until no transfer is in flight: every upload handle has
// been closed (committed or not) and its reply written.
func (ts *testServer) waitIdle(t *testing.T) {
	t.Helper()
	select {
	case <-ts.srv.flight.idle():
	case <-time.After(20 * time.Second):
		t.Fatal("transfers still in flight after 20s")
	}
}

// TestKilledClientUploadNotCommitted: a client that dies mid-upload has
// both its connections closed at once, in either order, and the data
// connection's EOF looks like the end of the file; a reset data
// connection ends no file. None of them is committed. A named user's
// partial holds what arrived and its owner resumes it; an anonymous one
// is deleted.
func TestKilledClientUploadNotCommitted(t *testing.T) {
	data := make([]byte, 300<<10)
	rand.Read(data)
	kills := map[string]func(c *client, d net.Conn){
		"control, then data": func(c *client, d net.Conn) { c.conn.Close(); d.Close() },
		"data, then control": func(c *client, d net.Conn) { d.Close(); c.conn.Close() },
		"data reset": func(c *client, d net.Conn) {
			d.(*net.TCPConn).SetLinger(0)
			d.Close()
			c.expect(426)
		},
	}
	cfg := writerConfig()
	cfg.Anonymous.Upload = true
	cfg.UploadDir = "incoming"
	for kill, do := range kills {
		for _, user := range []string{"netops", "anonymous"} {
			t.Run(kill+"/"+user, func(t *testing.T) {
				ts := newTestServer(t, cfg, map[string]string{"incoming/": ""})
				os.Remove(filepath.Join(ts.dir, "incoming/x"))
				c := ts.dial(t)
				c.login(user, "secret")
				d := c.pasv()
				c.cmd(150, "STOR incoming/fw.bin")
				if _, err := d.Write(data); err != nil {
					t.Fatal(err)
				}
				do(c, d)
				ts.waitIdle(t)
				if _, err := os.Stat(filepath.Join(ts.dir, "incoming/fw.bin")); !os.IsNotExist(err) {
					t.Fatalf("interrupted upload committed under its final name: %v", err)
				}
				hidden, _ := filepath.Glob(filepath.Join(ts.dir, "incoming", images.TempPrefix+"*"))
				if user == "anonymous" {
					if len(hidden) != 0 {
						t.Fatalf("anonymous upload left %v", hidden)
					}
					return
				}
				if len(hidden) != 1 {
					t.Fatalf("want one partial file, found %v", hidden)
				}
				// "interrupted" when the hang-up check caught it after
				// a clean data EOF, "error" when the transfer failed.
				tr := ts.srv.m.transfers
				failed := testutil.ToFloat64(tr.WithLabelValues("upload", "interrupted")) +
					testutil.ToFloat64(tr.WithLabelValues("upload", "error"))
				if ok := testutil.ToFloat64(tr.WithLabelValues("upload", "ok")); ok != 0 || failed != 1 {
					t.Errorf("upload transfers: %v ok, %v interrupted or error; want 0 and 1", ok, failed)
				}
				resume(t, ts, "incoming/fw.bin", data)
			})
		}
	}
}

// resume continues name's partial upload as netops with SIZE, REST and
// STOR, and checks the committed file is want.
func resume(t *testing.T, ts *testServer, name string, want []byte) {
	t.Helper()
	c := ts.dial(t)
	c.login("netops", "secret")
	text := c.cmd(213, "SIZE %s", name)
	n, err := strconv.Atoi(strings.TrimPrefix(text, "213 "))
	if err != nil || n < 0 || n > len(want) {
		t.Fatalf("SIZE of the partial = %q", text)
	}
	c.cmd(350, "REST %d", n)
	if code := c.stor("STOR", name, want[n:]); code != 226 {
		t.Fatalf("resumed STOR = %d", code)
	}
	got, err := os.ReadFile(filepath.Join(ts.dir, name))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("resumed upload: %d bytes (%v), want %d identical", len(got), err, len(want))
	}
}

// TestCompleteUploadCommitted: the hang-up check never stops a client
// that keeps its control connection open, even when it half-closes
// nothing and sends its next command at once.
func TestCompleteUploadCommitted(t *testing.T) {
	ts := newTestServer(t, writerConfig(), map[string]string{"up/": ""})
	c := ts.dial(t)
	c.login("netops", "secret")
	d := c.pasv()
	c.cmd(150, "STOR up/a")
	d.Write([]byte("complete"))
	d.Close()
	c.send("NOOP") // data on the control connection is not a hang-up
	c.expect(226)
	c.expect(200)
	if got, _ := os.ReadFile(filepath.Join(ts.dir, "up/a")); string(got) != "complete" {
		t.Fatalf("committed %q", got)
	}
	for _, typ := range []string{"I", "A"} {
		c.cmd(200, "TYPE %s", typ)
		if code := c.stor("STOR", "up/empty"+typ, nil); code != 226 {
			t.Fatalf("TYPE %s: empty STOR = %d", typ, code)
		}
		if fi, err := os.Stat(filepath.Join(ts.dir, "up/empty"+typ)); err != nil || fi.Size() != 0 {
			t.Fatalf("TYPE %s: empty upload: %v, %v", typ, fi, err)
		}
	}
}

// TestCloseWithoutEOFNotCommitted: a handle closed without its data
// connection ever ending cleanly is not committed, whatever it was given.
func TestCloseWithoutEOFNotCommitted(t *testing.T) {
	ts := newTestServer(t, writerConfig(), map[string]string{"up/": ""})
	sess := &session{srv: ts.srv, log: zerolog.Nop()}
	d := &fsDriver{sess: sess, srv: ts.srv, acct: &account{name: "netops", root: ".", write: true},
		store: ts.srv.store.Trusted()}
	h, err := d.GetHandle("/up/x", os.O_WRONLY|os.O_CREATE, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Write([]byte("data"))
	if err := h.Close(); !errors.Is(err, errNotComplete) {
		t.Fatalf("Close = %v, want errNotComplete", err)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "up/x")); !os.IsNotExist(err) {
		t.Fatalf("committed without an EOF: %v", err)
	}
	if fi, err := ts.srv.store.Trusted().StatPartial("up/x", "netops"); err != nil || fi.Size() != 4 {
		t.Fatalf("partial kept for resume: %v, %v", fi, err)
	}
}

// TestWaitHangup drives the socket check directly: a FIN or a reset is
// seen (also when the reader consumed the FIN already), pending data is
// not, and an open connection is waited for no longer than asked.
func TestWaitHangup(t *testing.T) {
	tests := map[string]struct {
		peer func(c *net.TCPConn)
		read bool // the server side reads what is there first
		gone bool
	}{
		"open":             {func(c *net.TCPConn) {}, false, false},
		"pending data":     {func(c *net.TCPConn) { c.Write([]byte("NOOP\r\n")) }, false, false},
		"closed":           {func(c *net.TCPConn) { c.Close() }, false, true},
		"closed, FIN read": {func(c *net.TCPConn) { c.Close() }, true, true},
		"data then close":  {func(c *net.TCPConn) { c.Write([]byte("QUIT\r\n")); c.Close() }, false, true},
		"reset":            {func(c *net.TCPConn) { c.SetLinger(0); c.Close() }, false, true},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			peer, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			tc.peer(peer.(*net.TCPConn))
			if tc.read {
				srv.SetReadDeadline(time.Now().Add(10 * time.Second))
				if n, err := srv.Read(make([]byte, 16)); n != 0 || err == nil {
					t.Fatalf("read = %d, %v; want EOF", n, err)
				}
			}
			// A hang-up ends the wait at once; a wait that times out
			// is what "open" and "pending data" expect.
			wait := 10 * time.Second
			if !tc.gone {
				wait = 50 * time.Millisecond
			}
			rc, err := srv.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var gone bool
			rc.Control(func(fd uintptr) { gone = waitHangup(int(fd), wait) })
			if gone != tc.gone {
				t.Fatalf("waitHangup = %v, want %v", gone, tc.gone)
			}
		})
	}
}

func TestCommitGrace(t *testing.T) {
	for rtt, want := range map[time.Duration]time.Duration{
		0:                      minCommitGrace,
		50 * time.Microsecond:  minCommitGrace,
		40 * time.Millisecond:  80 * time.Millisecond,
		300 * time.Millisecond: maxCommitGrace,
	} {
		if got := commitGrace(rtt); got != want {
			t.Errorf("commitGrace(%v) = %v, want %v", rtt, got, want)
		}
	}
}

// TestLargeUploadsWriteBehind: uploads that span several of the store's
// write-behind windows (8 MiB) commit byte-exact, in binary and in TYPE
// A, for named users and anonymous ones; killed mid-transfer they are
// not committed, and a named user's resume completes the file to the
// byte.
func TestLargeUploadsWriteBehind(t *testing.T) {
	data := make([]byte, 20<<20)
	rand.Read(data)
	ascii := bytes.Repeat([]byte("interface GigabitEthernet0/1\n description uplink\n"), (20<<20)/48)
	cfg := writerConfig()
	cfg.Anonymous.Upload = true
	cfg.UploadDir = "incoming"
	ts := newTestServer(t, cfg, map[string]string{"incoming/": ""})
	for _, user := range []string{"netops", "anonymous"} {
		c := ts.dial(t)
		c.login(user, "secret")
		if code := c.stor("STOR", "incoming/"+user+".bin", data); code != 226 {
			t.Fatalf("%s: STOR = %d", user, code)
		}
		c.cmd(200, "TYPE A")
		crlf := bytes.ReplaceAll(ascii, []byte("\n"), []byte("\r\n"))
		if code := c.stor("STOR", "incoming/"+user+".txt", crlf); code != 226 {
			t.Fatalf("%s: TYPE A STOR = %d", user, code)
		}
		for name, want := range map[string][]byte{user + ".bin": data, user + ".txt": ascii} {
			got, err := os.ReadFile(filepath.Join(ts.dir, "incoming", name))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes (%v), want %d identical", name, len(got), err, len(want))
			}
		}

		// Killed after more than two windows: not committed.
		c = ts.dial(t)
		c.login(user, "secret")
		d := c.pasv()
		c.cmd(150, "STOR incoming/killed-%s.bin", user)
		if _, err := d.Write(data[:18<<20]); err != nil {
			t.Fatal(err)
		}
		c.conn.Close()
		d.Close()
		ts.waitIdle(t)
		if _, err := os.Stat(filepath.Join(ts.dir, "incoming/killed-"+user+".bin")); !os.IsNotExist(err) {
			t.Fatalf("%s: killed upload committed: %v", user, err)
		}
		if user == "netops" {
			resume(t, ts, "incoming/killed-netops.bin", data)
		}
	}
}
