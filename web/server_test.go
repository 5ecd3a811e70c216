package web

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// newTestServer runs a Server with routes on 127.0.0.1:0 until the test
// ends, and returns its address and registry.
func newTestServer(t *testing.T, cfg Config, routes Routes) (string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, routes, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ln.Close()
	})
	return ln.Addr().String(), reg
}

// newTestHTTP serves handler at every path through a Server with cfg's
// limits.
func newTestHTTP(t *testing.T, cfg Config, handler http.Handler) (string, *prometheus.Registry) {
	t.Helper()
	return newTestServer(t, cfg, Routes{Handlers: map[string]http.Handler{"/": handler}})
}

// get sends one keep-alive GET on c and returns the status line.
func get(t *testing.T, c net.Conn, br *bufio.Reader) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status
}

// TestHTTPConnectionCaps: one address cannot hold more than
// max_connections_per_ip idle keep-alive connections; the next gets a 503
// and is closed, another address is still served, and a freed slot is
// usable again.
func TestHTTPConnectionCaps(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	addr, reg := newTestHTTP(t, Config{MaxConnections: 5, MaxConnectionsPerIP: 3}, ok)
	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := get(t, c, bufio.NewReader(c)); got != "200 OK" {
			t.Fatalf("status %q", got)
		}
		idle = append(idle, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(extra)
	if !strings.HasPrefix(string(b), "HTTP/1.1 503") {
		t.Fatalf("over the per-IP cap: got %q, want a 503", b)
	}
	if got := metricValue(t, reg, "bootsrv_http_refusals_total", "ip_limit"); got != 1 {
		t.Errorf("refusals{ip_limit} = %v, want 1", got)
	}
	// Another address (127.0.0.2 is loopback too) has its own share.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got := get(t, other, bufio.NewReader(other)); got != "200 OK" {
		t.Fatalf("another address: status %q", got)
	}
	idle[0].Close()
	waitFor(t, func() bool { return gauge(t, reg, "bootsrv_http_connections_open") == 3 })
	again, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := get(t, again, bufio.NewReader(again)); got != "200 OK" {
		t.Fatalf("after a slot was freed: status %q", got)
	}
}

// TestHTTPIdleTimeout: an idle keep-alive connection is closed after
// idle_timeout, freeing its slot.
func TestHTTPIdleTimeout(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	addr, reg := newTestHTTP(t, Config{IdleTimeout: 100 * time.Millisecond}, ok)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get(t, c, br)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF from the server closing it", err)
	}
	waitFor(t, func() bool { return gauge(t, reg, "bootsrv_http_connections_open") == 0 })
}

// TestHTTPStallTimeout: a client that stops reading is dropped after
// write_timeout, while one that reads slowly but steadily for longer than
// write_timeout in total gets the whole file.
func TestHTTPStallTimeout(t *testing.T) {
	const size = 4 << 20
	data := bytes.Repeat([]byte("bootsrv!"), size/8)
	file := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{}, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { served <- struct{}{} }()
		f, err := os.Open(file)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		fi, _ := f.Stat()
		http.ServeContent(w, r, "big", fi.ModTime(), f)
	})
	addr, _ := newTestHTTP(t, Config{WriteTimeout: 2 * time.Second}, h)

	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(stalled, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-served: // the handler gave up on the client that never reads
	case <-time.After(60 * time.Second):
		t.Fatal("a client that stopped reading still holds its handler")
	}

	resp, err := (&http.Client{Timeout: time.Minute}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	buf := make([]byte, 128<<10)
	start := time.Now()
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // about 1.3 MB/s: each 512 KiB well inside the timeout
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("slow client got %d of %d bytes", got.Len(), size)
	}
	if time.Since(start) < 2*time.Second {
		t.Log("the slow read finished within one write_timeout; the test proved less than it should")
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	return metricValue(t, reg, name, "")
}

// metricValue reads one series of reg: the one whose only label value is
// label, or the unlabelled one.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
