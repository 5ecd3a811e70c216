package ftp

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
)

// expectClose reads the rest of the control connection and fails unless
// it ends (EOF or reset) within d.
func (c *client) expectClose(d time.Duration) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	if code, text := c.read(); code != -1 {
		c.t.Fatalf("connection still open: %d %q", code, text)
	}
}

// TestTimeouts: each limit answers 421 (RFC 959 §4.2: service closing
// control connection) or 425 (can't open data connection) within a
// bounded time, then the control connection closes where RFC 959 says so.
func TestTimeouts(t *testing.T) {
	users := []User{{Name: "netops", PasswordHash: testHash}}
	tests := map[string]struct {
		limits Limits
		run    func(t *testing.T, c *client)
	}{
		"login timeout": {
			Limits{LoginTimeout: 200 * time.Millisecond},
			func(t *testing.T, c *client) {
				c.cmd(331, "USER netops") // a USER alone is not a login
				begin := time.Now()
				if text := c.expect(421); !strings.Contains(text, "Login timeout") {
					t.Errorf("421 text %q", text)
				}
				if time.Since(begin) > 3*time.Second {
					t.Errorf("login timeout after %v", time.Since(begin))
				}
				c.expectClose(5 * time.Second)
			},
		},
		"idle timeout": {
			Limits{IdleTimeout: time.Second},
			func(t *testing.T, c *client) {
				c.login("netops", "secret")
				begin := time.Now()
				if text := c.expect(421); !strings.Contains(text, "timeout") {
					t.Errorf("421 text %q", text)
				}
				if el := time.Since(begin); el < 500*time.Millisecond || el > 5*time.Second {
					t.Errorf("idle timeout after %v, want about 1s", el)
				}
				c.expectClose(5 * time.Second)
			},
		},
		"data timeout": {
			Limits{DataTimeout: time.Second},
			func(t *testing.T, c *client) {
				c.login("netops", "secret")
				c.cmd(229, "EPSV") // and never connect
				begin := time.Now()
				c.cmd(425, "RETR fw.bin")
				if el := time.Since(begin); el < 500*time.Millisecond || el > 5*time.Second {
					t.Errorf("425 after %v, want about 1s", el)
				}
				c.cmd(200, "NOOP") // the session survives
				if got := c.retr("fw.bin"); string(got) != "fw" {
					t.Errorf("RETR after the timeout = %q", got)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, Config{Users: users, Limits: tc.limits}, map[string]string{"fw.bin": "fw"})
			tc.run(t, ts.dial(t))
		})
	}
}

// TestServeDrain: cancelling Serve's context refuses new connections at
// once, but a RETR in flight runs to its end and its 226 reaches the
// client before the session is closed; then Serve returns nil.
func TestServeDrain(t *testing.T) {
	dir := t.TempDir()
	store, err := images.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	up, err := store.Create("big.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	up.Write(big)
	if err := up.Commit(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{PassivePorts: PortRange{First: 40000, Last: 49999}},
		store, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	ts := &testServer{addr: ln.Addr().String(), srv: srv}

	c := ts.dial(t)
	c.login("anonymous", "x")
	d := c.pasv()
	defer d.Close()
	c.cmd(150, "RETR big.bin")
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(d, first); err != nil {
		t.Fatal(err)
	}
	cancel() // the transfer is in flight, held back by our not reading
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	// New connections are no longer served: no greeting comes.
	nc, err := net.Dial("tcp", ts.addr)
	if err == nil {
		nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, _ := nc.Read(make([]byte, 16)); n > 0 {
			t.Fatal("a connection after cancel was greeted")
		}
		nc.Close()
	}
	shut := make(chan error, 1)
	go func() {
		sctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
		defer stop()
		shut <- srv.Shutdown(sctx)
	}()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a transfer in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	rest, err := io.ReadAll(d)
	if err != nil {
		t.Fatalf("data after cancel: %v", err)
	}
	if got := append(first, rest...); !bytes.Equal(got, big) {
		t.Fatalf("drained RETR: %d bytes, want %d", len(got), len(big))
	}
	c.expect(226)
	c.expectClose(10 * time.Second) // then the session is closed
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the drain")
	}
}
