package ftp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/bootsrv/bootsrv/images"
)

// testServer is an in-process server on 127.0.0.1:0.
type testServer struct {
	addr string
	dir  string
	reg  *prometheus.Registry
	srv  *Server
}

// hashes for the test users, computed once at minimum cost.
var testHash = func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	return string(h)
}()

func newTestServer(t testing.TB, cfg Config, files map[string]string) *testServer {
	t.Helper()
	return newTestServerWith(t, cfg, files, testOptions{})
}

// testOptions vary newTestServerWith.
type testOptions struct {
	store  images.Options                  // the store's options
	wrap   func(net.Listener) net.Listener // if not nil, Serve gets wrap(listener)
	listen string                          // the control listener's address; default 127.0.0.1:0
	log    io.Writer                       // if not nil, the server logs there (JSON, debug level)
}

// newTestServerWith is newTestServer with options.
func newTestServerWith(t testing.TB, cfg Config, files map[string]string, o testOptions) *testServer {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			p = filepath.Join(p, "x")
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "/") {
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store, err := images.Open(dir, o.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if cfg.Limits.LoginFailureDelay == 0 {
		cfg.Limits.LoginFailureDelay = time.Millisecond
	}
	if cfg.PassivePorts == (PortRange{}) {
		cfg.PassivePorts = PortRange{First: 40000, Last: 49999}
	}
	reg := prometheus.NewRegistry()
	log := zerolog.Nop()
	if o.log != nil {
		log = zerolog.New(o.log).Level(zerolog.DebugLevel)
	}
	srv, err := New(cfg, store, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	if o.listen == "" {
		o.listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	served := ln
	if o.wrap != nil {
		served = o.wrap(ln)
	}
	go func() { done <- srv.Serve(ctx, served) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		sctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
		defer stop()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ln.Close()
	})
	return &testServer{addr: ln.Addr().String(), dir: dir, reg: reg, srv: srv}
}

// client is a raw control-connection client for exact reply checks.
type client struct {
	t        testing.TB
	conn     net.Conn
	r        *bufio.Reader
	greeting string // the 220 reply, when dial read it
}

func (ts *testServer) dial(t testing.TB) *client {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := wrapClient(t, c)
	cl.greeting = cl.expect(220)
	return cl
}

// wrapClient makes a client of a connection dialled by the test, closed
// at cleanup; it reads nothing yet.
func wrapClient(t testing.TB, c net.Conn) *client {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

// read returns the next reply's code and full text.
func (c *client) read() (int, string) {
	c.t.Helper()
	var all []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return -1, strings.Join(append(all, l), "\n")
		}
		l = strings.TrimRight(l, "\r\n")
		all = append(all, l)
		if len(l) >= 4 && l[3] == ' ' {
			code, _ := strconv.Atoi(l[:3])
			if len(all) == 1 || l[:3] == all[0][:3] {
				return code, strings.Join(all, "\n")
			}
		}
	}
}

func (c *client) expect(code int) string {
	c.t.Helper()
	got, text := c.read()
	if got != code {
		c.t.Fatalf("want %d, got %d %q", code, got, text)
	}
	return text
}

func (c *client) send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.conn, format+"\r\n", args...); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and checks the reply code.
func (c *client) cmd(code int, format string, args ...any) string {
	c.t.Helper()
	c.send(format, args...)
	return c.expect(code)
}

func (c *client) login(user, pass string) {
	c.t.Helper()
	c.cmd(331, "USER %s", user)
	c.cmd(230, "PASS %s", pass)
}

// pasv opens a passive data connection (EPSV).
func (c *client) pasv() net.Conn {
	c.t.Helper()
	text := c.cmd(229, "EPSV")
	port := replyPort(229, text)
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	d, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		c.t.Fatal(err)
	}
	d.SetDeadline(time.Now().Add(20 * time.Second))
	return d
}

// retr downloads name over EPSV and returns its bytes.
func (c *client) retr(name string) []byte {
	c.t.Helper()
	d := c.pasv()
	defer d.Close()
	c.cmd(150, "RETR %s", name)
	data, err := io.ReadAll(d)
	if err != nil {
		c.t.Fatal(err)
	}
	c.expect(226)
	return data
}

// stor uploads data with verb (STOR or APPE) and returns the final code.
func (c *client) stor(verb, name string, data []byte) int {
	c.t.Helper()
	d := c.pasv()
	c.send("%s %s", verb, name)
	code, text := c.read()
	if code != 150 {
		d.Close()
		return code
	}
	// A write error is expected when the server refuses mid-way (full
	// disk, size cap); the reply tells what happened.
	d.Write(data)
	d.Close()
	code, text = c.read()
	c.t.Logf("%s %s -> %s", verb, name, text)
	return code
}

// fmtSscan reads the number out of a "213 N" reply.
func fmtSscan(reply string, n *int) (int, error) {
	return fmt.Sscanf(reply, "213 %d", n)
}
