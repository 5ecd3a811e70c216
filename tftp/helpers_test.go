package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/bootsrv/bootsrv/images"
)

// testServer is a Server on 127.0.0.1:0 over a temporary store.
type testServer struct {
	*Server
	conn   *net.UDPConn // the listening socket
	addr   string
	dir    string // store root on disk
	reg    *prometheus.Registry
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	drain  time.Duration // Shutdown's deadline at cleanup; default 5s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fastConfig keeps failing transfers short in tests.
func fastConfig() Config {
	return Config{Timeout: 200 * time.Millisecond, Retries: 2}
}

// newTestServer starts a server on files (name -> content, created with
// their folders) and stops it, checking that Serve returned nil, at cleanup.
func newTestServer(t testing.TB, cfg Config, files map[string][]byte, setup ...func(*Server)) *testServer {
	t.Helper()
	return newTestServerIn(t, t.TempDir(), cfg, files, setup...)
}

// newTestServerIn is newTestServer on an existing store directory.
func newTestServerIn(t testing.TB, dir string, cfg Config, files map[string][]byte, setup ...func(*Server)) *testServer {
	t.Helper()
	ts := startTestServer(t, cfg, testStore(t, dir, cfg, files), setup...)
	ts.dir = dir
	return ts
}

// newTestServerOn is newTestServer listening on the UDP address listen.
func newTestServerOn(t testing.TB, listen string, cfg Config, files map[string][]byte) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := startTestServerOn(t, listen, cfg, testStore(t, dir, cfg, files))
	ts.dir = dir
	return ts
}

// testStore writes files into a store at dir and returns its handler.
func testStore(t testing.TB, dir string, cfg Config, files map[string][]byte) Handler {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store, err := images.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if cfg.AllowWrite {
		if err := store.MkdirAll("incoming"); err != nil {
			t.Fatal(err)
		}
	}
	return storeHandler{store: store, uploads: "incoming"}
}

// startTestServer serves h on 127.0.0.1:0 until the test ends; setup
// runs on the server before it serves.
func startTestServer(t testing.TB, cfg Config, h Handler, setup ...func(*Server)) *testServer {
	t.Helper()
	return startTestServerOn(t, "127.0.0.1:0", cfg, h, setup...)
}

// startTestServerOn serves h on the UDP address listen until the test
// ends; setup runs on the server before it serves.
func startTestServerOn(t testing.TB, listen string, cfg Config, h Handler, setup ...func(*Server)) *testServer {
	t.Helper()
	ts := &testServer{reg: prometheus.NewRegistry(), logs: &syncBuffer{}, done: make(chan error, 1)}
	log := zerolog.New(ts.logs).Level(zerolog.DebugLevel)
	var err error
	ts.Server, err = New(cfg, h, log, ts.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(ts.Server)
	}
	conn, err := net.ListenPacket("udp", listen)
	if err != nil {
		t.Fatal(err)
	}
	ts.conn = conn.(*net.UDPConn)
	ts.addr = conn.LocalAddr().String()
	// Ask for IP_PKTINFO now: packets queued before Serve turns it on
	// carry no local address and interface, and pin/tftp then caps their
	// block size at 512. Tests send their first request at once.
	if err := ipv4.NewPacketConn(conn.(*net.UDPConn)).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		t.Fatal(err)
	}
	if ts.conn.LocalAddr().(*net.UDPAddr).IP.To4() == nil {
		if err := ipv6.NewPacketConn(ts.conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- ts.Serve(ctx, conn) }()
	t.Cleanup(func() { ts.shutdown(t) })
	return ts
}

// shutdown cancels Serve, waits for it, then drains the transfers left
// within ts.drain; safe to call twice.
func (ts *testServer) shutdown(t testing.TB) {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			t.Errorf("Serve: %v", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(30 * time.Second):
		t.Error("Serve did not return after cancel")
	}
	d := ts.drain
	if d == 0 {
		d = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ts.Shutdown(ctx)
}

// get fetches file with pin/tftp's client.
func get(addr, file, mode string, blksize int, tsize bool) ([]byte, int64, error) {
	c, err := tftp.NewClient(addr)
	if err != nil {
		return nil, 0, err
	}
	c.SetTimeout(time.Second)
	c.SetRetries(3)
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(tsize)
	wt, err := c.Receive(file, mode)
	if err != nil {
		return nil, 0, err
	}
	size := int64(-1)
	if in, ok := wt.(tftp.IncomingTransfer); ok {
		if n, ok := in.Size(); ok {
			size = n
		}
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), size, err
}

// put uploads data with pin/tftp's client.
func put(addr, file string, data []byte) error {
	c, err := tftp.NewClient(addr)
	if err != nil {
		return err
	}
	c.SetTimeout(time.Second)
	c.SetRetries(3)
	rf, err := c.Send(file, "octet")
	if err != nil {
		return err
	}
	_, err = rf.ReadFrom(bytes.NewReader(data))
	return err
}

// rawConn is a hand-driven TFTP client socket.
type rawConn struct {
	t    testing.TB
	c    *net.UDPConn
	srv  *net.UDPAddr
	last *net.UDPAddr // source of the last packet read
}

func newRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	return newRawFrom(t, addr, "127.0.0.1")
}

// newRawFrom is newRaw from another loopback address (127.0.0.0/8 is all
// local), for a client that counts as another host.
func newRawFrom(t testing.TB, addr, ip string) *rawConn {
	t.Helper()
	srv, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, srv: srv}
}

func (r *rawConn) send(to *net.UDPAddr, p []byte) {
	r.t.Helper()
	if _, err := r.c.WriteToUDP(p, to); err != nil {
		r.t.Fatal(err)
	}
}

// read returns the next packet, or nil after d.
func (r *rawConn) read(d time.Duration) []byte {
	r.t.Helper()
	buf := make([]byte, 65536)
	r.c.SetReadDeadline(time.Now().Add(d))
	n, from, err := r.c.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	r.last = from
	return buf[:n]
}

// request builds an RRQ (op 1) or WRQ (op 2) with options as name, value pairs.
func request(op uint16, file, mode string, opts ...string) []byte {
	p := binary.BigEndian.AppendUint16(nil, op)
	for _, s := range append([]string{file, mode}, opts...) {
		p = append(append(p, s...), 0)
	}
	return p
}

func ack(block uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte{0, 4}, block)
}

func opcode(p []byte) uint16 {
	if len(p) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

// errPacket decodes an ERROR packet.
func errPacket(p []byte) (code uint16, msg string, ok bool) {
	if opcode(p) != 5 || len(p) < 5 {
		return 0, "", false
	}
	return binary.BigEndian.Uint16(p[2:]), strings.TrimRight(string(p[4:]), "\x00"), true
}

// oackOptions decodes an OACK packet.
func oackOptions(p []byte) map[string]string {
	parts := strings.Split(strings.TrimSuffix(string(p[2:]), "\x00"), "\x00")
	m := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		m[parts[i]] = parts[i+1]
	}
	return m
}

// rawGet runs a whole read transfer by hand, acknowledging every block,
// and returns the data and the first packet (OACK or DATA 1).
func rawGet(t testing.TB, r *rawConn, req []byte, blksize int) (data, first []byte) {
	t.Helper()
	r.send(r.srv, req)
	var buf bytes.Buffer
	want := uint16(1)
	for {
		p := r.read(3 * time.Second)
		if p == nil {
			t.Fatalf("no packet waiting for block %d", want)
		}
		if first == nil {
			first = p
		}
		switch opcode(p) {
		case 6: // OACK: RFC 2347, acknowledged with block 0
			if v := oackOptions(p)["blksize"]; v != "" {
				fmt.Sscan(v, &blksize)
			}
			r.send(r.last, ack(0))
			continue
		case 3:
		default:
			code, msg, _ := errPacket(p)
			t.Fatalf("unexpected packet op %d (code %d %q)", opcode(p), code, msg)
		}
		blk := binary.BigEndian.Uint16(p[2:])
		if blk == want {
			buf.Write(p[4:])
			want++
		}
		// Cumulative, as TFTP ACKs are: after a lost block, a later one
		// is answered with the last block held in order, never its own
		// number, which would tell a windowed sender the gap was filled.
		r.send(r.last, ack(want-1))
		if blk == want-1 && len(p)-4 < blksize {
			return buf.Bytes(), first
		}
	}
}

// counter reads a counter or gauge from ts's registry by name and labels.
func (ts *testServer) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// eventually polls cond; transfers end on the server after the client has
// its last packet, so counters settle a moment later.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
