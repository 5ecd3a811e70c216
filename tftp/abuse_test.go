package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// packets returns what is queued on r's socket: after a transfer has been
// counted as ended, everything it sent is there already.
func (r *rawConn) packets() [][]byte {
	r.t.Helper()
	var out [][]byte
	for {
		p := r.read(50 * time.Millisecond)
		if p == nil {
			return out
		}
		out = append(out, p)
	}
}

// TestNoBufferBeforeACK: a request holds no window or read-ahead buffer
// until its peer answers: block 1 alone without options, nothing behind an
// OACK; the full buffer comes with the first ACK.
func TestNoBufferBeforeACK(t *testing.T) {
	tests := map[string]struct {
		opts   []string
		before float64 // buffer bytes held before the first ACK
	}{
		"no options: block 1 only": {before: 4 + 512},
		"blksize, windowsize: nothing behind the OACK": {
			opts: []string{"blksize", "65464", "windowsize", "64", "tsize", "0"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, fastConfig(), map[string][]byte{"f": randBytes(300_000)})
			r := newRaw(t, ts.addr)
			r.send(r.srv, request(1, "f", "octet", tc.opts...))
			first := r.read(2 * time.Second)
			if got := ts.metric(t, "bootsrv_tftp_buffer_bytes"); got != tc.before {
				t.Fatalf("buffer bytes before the first ACK = %v, want %v", got, tc.before)
			}
			blksize, window, acked := 512, 1, uint16(1)
			if opcode(first) == 6 {
				o := oackOptions(first)
				blksize, _ = strconv.Atoi(o["blksize"])
				window, _ = strconv.Atoi(o["windowsize"])
				acked = 0
			}
			r.send(r.last, ack(acked))
			if p := r.read(2 * time.Second); opcode(p) != 3 {
				t.Fatalf("after the ACK: %q, want DATA", p)
			}
			full := float64(4 + (window+max(1, readAhead/blksize))*blksize)
			if got := ts.metric(t, "bootsrv_tftp_buffer_bytes"); got != full {
				t.Fatalf("buffer bytes after the first ACK = %v, want %v", got, full)
			}
			eventually(t, "buffer released", func() bool {
				return ts.metric(t, "bootsrv_tftp_transfers_in_flight") == 0 &&
					ts.metric(t, "bootsrv_tftp_buffer_bytes") == 0
			})
		})
	}
}

// TestUnverifiedRetransmissions: a peer that never answers receives the
// first packet 1 + unverified_retries times, whatever timeout it asked
// for, and the transfer ends after the server's own timeout: what one
// forged request can send its victim.
func TestUnverifiedRetransmissions(t *testing.T) {
	tests := map[string]struct {
		retries int
		opts    []string
		want    int
	}{
		"none, plain":               {retries: -1, want: 1},
		"default, plain":            {retries: 0, want: 2},
		"3, plain":                  {retries: 3, want: 4},
		"default, OACK timeout=255": {retries: 0, opts: []string{"timeout", "255", "blksize", "1468"}, want: 2},
		"3, OACK timeout=255":       {retries: 3, opts: []string{"timeout", "255", "tsize", "0"}, want: 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := fastConfig()
			cfg.Timeout = 50 * time.Millisecond
			cfg.Retries = 5
			cfg.UnverifiedRetries = tc.retries
			ts := newTestServer(t, cfg, map[string][]byte{"f": randBytes(5000)})
			r := newRaw(t, ts.addr)
			r.send(r.srv, request(1, "f", "octet", tc.opts...))
			// 50ms x 4 waits against 255s asked: the deadline of
			// eventually (5s) is the bound.
			eventually(t, "unverified transfer abandoned", func() bool {
				return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", resultUnverifiedTimeout) == 1 &&
					ts.metric(t, "bootsrv_tftp_transfers_in_flight") == 0 &&
					ts.metric(t, "bootsrv_tftp_transfers_unverified") == 0
			})
			got := r.packets()
			if len(got) != tc.want {
				t.Fatalf("peer received %d datagrams, want %d", len(got), tc.want)
			}
			for _, p := range got {
				if tc.opts != nil && (opcode(p) != 6 || oackOptions(p)["timeout"] != "255") {
					t.Fatalf("got %q, want an OACK acknowledging timeout 255", p)
				}
				if tc.opts == nil && (opcode(p) != 3 || binary.BigEndian.Uint16(p[2:]) != 1) {
					t.Fatalf("got %q, want DATA 1", p)
				}
			}
		})
	}
}

// TestTimeoutOptionHonoured: once the client has answered, its timeout
// option is the ceiling of the retransmission timer: the waits for a lost
// block grow to the client's 1s, past the configured 200ms, before the
// transfer gives up.
func TestTimeoutOptionHonoured(t *testing.T) {
	cfg := Config{Timeout: 200 * time.Millisecond, MinTimeout: 200 * time.Millisecond, Retries: 1}
	ts := newTestServer(t, cfg, map[string][]byte{"f": randBytes(2000)})
	r := newRaw(t, ts.addr)
	r.send(r.srv, request(1, "f", "octet", "timeout", "1"))
	if p := r.read(2 * time.Second); opcode(p) != 6 || oackOptions(p)["timeout"] != "1" {
		t.Fatalf("want OACK timeout 1, got %q", p)
	}
	r.send(r.last, ack(0))
	var at []time.Time // DATA 1, never acknowledged, and its retransmissions
	for {
		p := r.read(1500 * time.Millisecond) // longer than any wait
		if p == nil {
			break
		}
		if opcode(p) != 3 || binary.BigEndian.Uint16(p[2:]) != 1 {
			t.Fatalf("got %q, want DATA 1", p)
		}
		at = append(at, time.Now())
	}
	eventually(t, "transfer timed out", func() bool {
		return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", resultTimeout) == 1
	})
	if len(at) < 3 {
		t.Fatalf("DATA 1 sent %d times, want retransmissions", len(at))
	}
	// A lower bound only: a slow machine stretches waits, never shortens them.
	if d := at[len(at)-1].Sub(at[len(at)-2]); d < 800*time.Millisecond {
		t.Fatalf("longest wait %s: the client's 1s timeout was not the ceiling", d)
	}
}

// TestPerIPCaps: per client address, unverified transfers and all
// transfers are capped; other addresses are served meanwhile.
func TestPerIPCaps(t *testing.T) {
	tests := map[string]struct {
		cfg    func(*Config)
		ackA   bool // the first two clients of A answer (become verified)
		reason string
	}{
		"unverified": {cfg: func(c *Config) { c.MaxUnverifiedPerIP = 2 }, reason: reasonUnverified},
		"transfers":  {cfg: func(c *Config) { c.MaxTransfersPerIP = 2 }, ackA: true, reason: reasonIPLimit},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := fastConfig()
			cfg.Timeout = 5 * time.Second // nobody times out during the test
			tc.cfg(&cfg)
			ts := newTestServer(t, cfg, map[string][]byte{"f": randBytes(5000)})
			ts.drain = 50 * time.Millisecond
			for i := range 2 {
				a := newRaw(t, ts.addr)
				a.send(a.srv, request(1, "f", "octet"))
				if p := a.read(2 * time.Second); opcode(p) != 3 {
					t.Fatalf("client %d of A got %q", i, p)
				}
				if tc.ackA {
					a.send(a.last, ack(1))
					if p := a.read(2 * time.Second); opcode(p) != 3 {
						t.Fatalf("client %d of A got %q after ACK 1", i, p)
					}
				}
			}
			a3 := newRaw(t, ts.addr)
			a3.send(a3.srv, request(1, "f", "octet"))
			if code, msg, ok := errPacket(a3.read(2 * time.Second)); !ok || code != 0 || msg != "server busy" {
				t.Fatalf("third client of A got %d %q ok=%v, want server busy", code, msg, ok)
			}
			if got := ts.metric(t, "bootsrv_tftp_refusals_total", "reason", tc.reason); got != 1 {
				t.Fatalf("refusals{%s} = %v", tc.reason, got)
			}
			b := newRawFrom(t, ts.addr, "127.0.0.2")
			b.send(b.srv, request(1, "f", "octet"))
			if p := b.read(2 * time.Second); opcode(p) != 3 {
				t.Fatalf("another address got %q, want DATA 1", p)
			}
		})
	}
}

// TestUnverifiedCapFreedByAnswer: a transfer leaves the unverified count
// of its address when its peer answers, so the same host can then start
// more (a firmware's size probe followed by its real request).
func TestUnverifiedCapFreedByAnswer(t *testing.T) {
	cfg := fastConfig()
	cfg.Timeout = 5 * time.Second
	cfg.MaxUnverifiedPerIP = 1
	ts := newTestServer(t, cfg, map[string][]byte{"f": randBytes(5000)})
	ts.drain = 50 * time.Millisecond // stop the waiting transfers at cleanup
	a := newRaw(t, ts.addr)
	a.send(a.srv, request(1, "f", "octet"))
	if p := a.read(2 * time.Second); opcode(p) != 3 {
		t.Fatalf("got %q", p)
	}
	a.send(a.last, ack(1))
	if p := a.read(2 * time.Second); opcode(p) != 3 {
		t.Fatalf("got %q", p)
	}
	eventually(t, "verified", func() bool { return ts.metric(t, "bootsrv_tftp_transfers_unverified") == 0 })
	b := newRaw(t, ts.addr)
	b.send(b.srv, request(1, "f", "octet"))
	if p := b.read(2 * time.Second); opcode(p) != 3 {
		t.Fatalf("second request after the first was answered: %q, want DATA 1", p)
	}
}

// TestEviction: with every slot taken, a new request evicts the oldest
// unverified transfer; verified transfers keep theirs (TestBusy).
func TestEviction(t *testing.T) {
	cfg := fastConfig()
	cfg.Timeout = 5 * time.Second
	cfg.MaxTransfers = 2
	data := randBytes(20_000)
	ts := newTestServer(t, cfg, map[string][]byte{"f": data})
	ts.drain = 50 * time.Millisecond // stop the waiting transfers at cleanup
	var forged []*rawConn
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		r := newRawFrom(t, ts.addr, ip)
		r.send(r.srv, request(1, "f", "octet"))
		if p := r.read(2 * time.Second); opcode(p) != 3 {
			t.Fatalf("%s got %q", ip, p)
		}
		forged = append(forged, r)
	}
	got, _, err := get(ts.addr, "f", "octet", 1468, false)
	if err != nil || string(got) != string(data) {
		t.Fatalf("real client with every slot unverified: %d bytes, %v", len(got), err)
	}
	eventually(t, "oldest evicted", func() bool {
		return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", resultEvicted) == 1
	})
	// The newer one was left alone: it still answers its peer.
	r := forged[1]
	r.send(r.last, ack(1))
	if p := r.read(2 * time.Second); opcode(p) != 3 || binary.BigEndian.Uint16(p[2:]) != 2 {
		t.Fatalf("newer unverified transfer got %q, want DATA 2", p)
	}
}

// TestListenerTransientError: a read error on the listening socket other
// than its closing is counted and retried; Serve goes on. The error is a
// real one: with IP_RECVERR on, an ICMP port unreachable for one of the
// listener's replies makes the next read fail with ECONNREFUSED.
func TestListenerTransientError(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a raw socket")
	}
	ts := newTestServer(t, fastConfig(), map[string][]byte{"f": []byte("hello")})
	rc, err := ts.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_RECVERR, 1) })
	if serr != nil {
		t.Fatal(serr)
	}
	// A malformed RRQ from a port nobody listens on: the server's ERROR 4
	// reply comes back as ICMP port unreachable.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closed := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	raw, err := net.ListenPacket("ip4:udp", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	srvPort := ts.conn.LocalAddr().(*net.UDPAddr).Port
	payload := []byte("\x00\x01f\x00")
	udp := binary.BigEndian.AppendUint16(nil, uint16(closed))
	udp = binary.BigEndian.AppendUint16(udp, uint16(srvPort))
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(payload)))
	udp = append(udp, 0, 0) // no checksum (IPv4)
	udp = append(udp, payload...)
	for range 3 {
		if _, err := raw.WriteTo(udp, &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "read errors counted", func() bool { return ts.metric(t, "bootsrv_tftp_read_errors_total") >= 1 })
	if got, _, err := get(ts.addr, "f", "octet", 0, false); err != nil || string(got) != "hello" {
		t.Fatalf("after a read error: %q %v", got, err)
	}
	select {
	case err := <-ts.done:
		ts.done <- err
		t.Fatalf("Serve returned: %v", err)
	default:
	}
	if !strings.Contains(ts.logs.String(), "connection refused") {
		t.Error("read error not logged")
	}
}

// TestNoTransferSocket: when a transfer's socket cannot be opened (out of
// file descriptors here), the request gets "server busy" from the
// listening socket, is counted, and is logged at most once a second.
func TestNoTransferSocket(t *testing.T) {
	if os.Getenv(freshProcessEnv) == "" {
		inFreshProcess(t)
		return
	}
	ts := newTestServer(t, fastConfig(), map[string][]byte{"f": []byte("hello")})
	r := newRaw(t, ts.addr)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	hog := exhaustFDs(t, lim)
	start := time.Now()
	const n = 20
	for i := range n {
		r.send(r.srv, request(1, "f", "octet"))
		if code, msg, ok := errPacket(r.read(2 * time.Second)); !ok || code != 0 || msg != "server busy" {
			releaseFDs(t, hog, lim)
			t.Fatalf("request %d with no descriptors left: %d %q ok=%v", i, code, msg, ok)
		}
	}
	elapsed := time.Since(start)
	releaseFDs(t, hog, lim)
	if got := ts.metric(t, "bootsrv_tftp_refusals_total", "reason", reasonResources); got != n {
		t.Fatalf("refusals{resources} = %v, want %d", got, n)
	}
	lines := strings.Count(ts.logs.String(), `"reason":"resources"`)
	if limit := 1 + int(elapsed/time.Second); lines < 1 || lines > limit {
		t.Fatalf("%d log lines for %d refusals in %s, want 1..%d", lines, n, elapsed, limit)
	}
	if got, _, err := get(ts.addr, "f", "octet", 0, false); err != nil || string(got) != "hello" {
		t.Fatalf("after descriptors came back: %q %v", got, err)
	}
}

// freshProcessEnv marks the test binary run by inFreshProcess.
const freshProcessEnv = "BOOTSRV_TFTP_TEST_FRESH_PROCESS"

// inFreshProcess runs the calling test alone in a new process of the test
// binary. Descriptor exhaustion needs it: sockets of earlier tests are
// closed by the runtime only once their last reader has woken up, so
// descriptors would come free in the middle of the test.
func inFreshProcess(t *testing.T) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), freshProcessEnv+"=1")
	out, err := cmd.CombinedOutput()
	switch {
	case bytes.Contains(out, []byte("--- SKIP: "+t.Name())):
		t.Skipf("in a fresh process:\n%s", out)
	case err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())):
		t.Fatalf("in a fresh process (%v):\n%s", err, out)
	}
}

// exhaustFDs lowers the soft descriptor limit to just above what is open
// and fills what is left, so the next socket(2) fails with EMFILE.
func exhaustFDs(t *testing.T, lim syscall.Rlimit) []*os.File {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, n)
		}
	}
	low := lim
	low.Cur = uint64(highest + 8)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	var hog []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			return hog
		}
		if err != nil {
			releaseFDs(t, hog, lim)
			t.Fatal(err)
		}
		hog = append(hog, f)
	}
}

func releaseFDs(t *testing.T, hog []*os.File, lim syscall.Rlimit) {
	t.Helper()
	for _, f := range hog {
		f.Close()
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Error(err)
	}
}

func TestLogSampler(t *testing.T) {
	l := logSampler{every: time.Second}
	t0 := time.Now()
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
	}
	for _, s := range steps {
		ok, n := l.allow(t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("at %s: allow = %v, %d; want %v, %d", s.at, ok, n, s.ok, s.suppressed)
		}
	}
}

func TestReadBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Millisecond, 2: 2 * time.Millisecond, 5: 16 * time.Millisecond,
		11: time.Second, 1000: time.Second} {
		if got := readBackoff(n); got != want {
			t.Errorf("readBackoff(%d) = %s, want %s", n, got, want)
		}
	}
}
