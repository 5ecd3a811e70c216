package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

func TestConfig(t *testing.T) {
	d := Config{}.WithDefaults()
	if d.MaxBlockSize != 65464 || d.Timeout != 2*time.Second || d.Retries != 5 || d.MaxTransfers != 2000 ||
		d.AllowWrite || d.MaxUploadSize != 256<<20 ||
		d.MaxTransfersPerIP != 32 || d.MaxUnverifiedPerIP != 4 || d.UnverifiedRetries != 1 {
		t.Fatalf("defaults %+v", d)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if err := (Config{MaxTransfersPerIP: -1, MaxUnverifiedPerIP: -1, UnverifiedRetries: -1}).Validate(); err != nil {
		t.Fatalf("no caps, no unverified retries: %v", err)
	}
	tests := map[string]struct {
		cfg Config
		key string
	}{
		"blksize 512":                     {Config{MaxBlockSize: 512}, "max_block_size"},
		"blksize huge":                    {Config{MaxBlockSize: 65465}, "max_block_size"},
		"timeout tiny":                    {Config{Timeout: time.Millisecond}, "timeout"},
		"retries":                         {Config{Retries: -1}, "retries"},
		"transfers":                       {Config{MaxTransfers: -5}, "max_transfers"},
		"upload size":                     {Config{MaxUploadSize: -2}, "max_upload_size"},
		"anticipate":                      {Config{Anticipate: 61}, "anticipate"},
		"per ip":                          {Config{MaxTransfersPerIP: -2}, "max_transfers_per_ip"},
		"unverified":                      {Config{MaxUnverifiedPerIP: -2}, "max_unverified_per_ip"},
		"unverified retries below -1":     {Config{UnverifiedRetries: -2}, "unverified_retries"},
		"unverified retries over retries": {Config{Retries: 2, UnverifiedRetries: 3}, "unverified_retries"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			var ke *cfgerr.Error
			if tc.key == "" {
				if errors.As(err, &ke) {
					t.Fatalf("key %q for a field outside the section", ke.Key)
				}
				return
			}
			if !errors.As(err, &ke) || ke.Key != tc.key {
				t.Fatalf("error %v, want key %s", err, tc.key)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	h := &memHandler{}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, h, zerolog.Nop(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, h, zerolog.Nop(), reg); err == nil {
		t.Fatal("second registration on one registry accepted")
	}
	if _, err := New(Config{Retries: -1}, h, zerolog.Nop(), prometheus.NewRegistry()); err == nil {
		t.Fatal("invalid config accepted")
	}
	if _, err := New(Config{}, nil, zerolog.Nop(), prometheus.NewRegistry()); err == nil {
		t.Fatal("no handler accepted")
	}
}

func TestMetricsLint(t *testing.T) {
	ts := newTestServer(t, fastConfig(), map[string][]byte{"f": []byte("data")})
	if _, _, err := get(ts.addr, "f", "octet", 0, false); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(ts.reg)
	if err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
	eventually(t, "read counted", func() bool {
		return testutil.ToFloat64(ts.m.transfers.WithLabelValues("download", "ok")) == 1
	})
	if got := testutil.ToFloat64(ts.m.bytes.WithLabelValues("download")); got != 4 {
		t.Fatalf("bytes{read} = %v", got)
	}
	if got := testutil.CollectAndCount(ts.m.duration); got != 2 {
		t.Fatalf("duration series = %d, want 2 (read, write)", got)
	}
	if got := testutil.ToFloat64(ts.m.inFlight); got != 0 {
		t.Fatalf("in flight = %v", got)
	}
	logs := ts.logs.String()
	for _, want := range []string{`"message":"tftp transfer"`, `"bytes":4`, `"blksize":512`, `"mode":"octet"`, `"result":"ok"`, `"peer":"127.0.0.1:`} {
		if !strings.Contains(logs, want) {
			t.Errorf("transfer log lacks %s:\n%s", want, logs)
		}
	}
}

// TestBusy holds the only slot with a client that acknowledged block 1
// (a verified transfer, which a new request cannot evict) and then stops.
func TestBusy(t *testing.T) {
	cfg := fastConfig()
	cfg.MaxTransfers = 1
	cfg.Timeout = 2 * time.Second
	data := randBytes(5000)
	ts := newTestServer(t, cfg, map[string][]byte{"f": data})
	a := newRaw(t, ts.addr)
	a.send(a.srv, request(1, "f", "octet"))
	if p := a.read(2 * time.Second); opcode(p) != 3 {
		t.Fatalf("first client got op %d", opcode(p))
	}
	a.send(a.last, ack(1))
	if p := a.read(2 * time.Second); opcode(p) != 3 || binary.BigEndian.Uint16(p[2:]) != 2 {
		t.Fatalf("first client got %q, want DATA 2", p)
	}
	b := newRaw(t, ts.addr)
	b.send(b.srv, request(1, "f", "octet"))
	code, msg, ok := errPacket(b.read(2 * time.Second))
	if !ok || code != 0 || msg != "server busy" {
		t.Fatalf("second client got %d %q ok=%v", code, msg, ok)
	}
	if got := ts.metric(t, "bootsrv_tftp_refusals_total", "reason", reasonBusy); got != 1 {
		t.Fatalf("refusals{busy} = %v", got)
	}
	if got := ts.metric(t, "bootsrv_tftp_transfers_in_flight"); got != 1 {
		t.Fatalf("in flight = %v", got)
	}
	// The first transfer carries on and frees its slot.
	a.send(a.last, ack(2))
	var got bytes.Buffer
	got.Write(data[:1024])
	for {
		p := a.read(2 * time.Second)
		if opcode(p) != 3 {
			t.Fatalf("op %d", opcode(p))
		}
		got.Write(p[4:])
		a.send(a.last, ack(binary.BigEndian.Uint16(p[2:])))
		if len(p) < 516 {
			break
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("content differs")
	}
	eventually(t, "slot freed", func() bool { return ts.metric(t, "bootsrv_tftp_transfers_in_flight") == 0 })
	if _, _, err := get(ts.addr, "f", "octet", 0, false); err != nil {
		t.Fatalf("after the slot freed: %v", err)
	}
}

// TestDuplicateRRQ: busybox-style clients resend their request quickly, so
// two transfers start for one client port. The client follows the first
// server TID; the other transfer must end without touching its data.
func TestDuplicateRRQ(t *testing.T) {
	data := randBytes(40_000)
	for name, answerStranger := range map[string]bool{"stranger gets error 5": true, "stranger ignored": false} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, fastConfig(), map[string][]byte{"f": data})
			r := newRaw(t, ts.addr)
			req := request(1, "f", "octet")
			r.send(r.srv, req)
			r.send(r.srv, req)
			var got bytes.Buffer
			var tid string
			want := uint16(1)
			for done := false; !done; {
				p := r.read(3 * time.Second)
				if p == nil {
					t.Fatalf("stalled at block %d", want)
				}
				if tid == "" {
					tid = r.last.String()
				}
				if r.last.String() != tid { // RFC 1350 section 4: another TID
					if answerStranger {
						r.send(r.last, packError(5, "unknown transfer ID"))
					}
					continue
				}
				blk := binary.BigEndian.Uint16(p[2:])
				if opcode(p) == 3 && blk == want {
					got.Write(p[4:])
					want++
					done = len(p) < 516
				}
				r.send(r.last, ack(blk))
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatal("content differs")
			}
			wantOther := resultUnverifiedTimeout // the client never answered it
			if answerStranger {
				wantOther = resultPeerAbort
			}
			eventually(t, "both transfers ended", func() bool {
				return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", "ok") == 1 &&
					ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", wantOther) == 1 &&
					ts.metric(t, "bootsrv_tftp_transfers_in_flight") == 0
			})
		})
	}
}

// TestDuplicateACK: every ACK sent twice must not make the server send
// blocks twice (the Sorcerer's Apprentice bug, RFC 1123 section 4.2.3.1).
func TestDuplicateACK(t *testing.T) {
	cfg := fastConfig()
	cfg.Timeout = 3 * time.Second // no timer retransmissions in this test:
	cfg.MinTimeout = cfg.Timeout  // not even when a slow round trip shortens the adaptive wait
	data := randBytes(50 * 512)
	ts := newTestServer(t, cfg, map[string][]byte{"f": data})
	r := newRaw(t, ts.addr)
	r.send(r.srv, request(1, "f", "octet"))
	seen := map[uint16]int{}
	var got bytes.Buffer
	for {
		p := r.read(2 * time.Second)
		if p == nil {
			break
		}
		blk := binary.BigEndian.Uint16(p[2:])
		if seen[blk] == 0 {
			got.Write(p[4:])
		}
		seen[blk]++
		r.send(r.last, ack(blk))
		r.send(r.last, ack(blk))
		if len(p) < 516 {
			break
		}
	}
	for blk, n := range seen {
		if n != 1 {
			t.Errorf("block %d sent %d times", blk, n)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("content differs")
	}
}

// TestShutdownDrain: after cancel Serve returns at once and no new
// request is answered; Shutdown lets a running transfer complete and
// returns nil. The listening socket is left open for its owner.
func TestShutdownDrain(t *testing.T) {
	data := randBytes(3000)
	ts := newTestServer(t, fastConfig(), map[string][]byte{"f": data})
	r := newRaw(t, ts.addr)
	r.send(r.srv, request(1, "f", "octet"))
	p := r.read(2 * time.Second)
	if opcode(p) != 3 {
		t.Fatalf("op %d", opcode(p))
	}
	got := append([]byte(nil), p[4:]...)
	ts.cancel()
	select {
	case err := <-ts.done:
		if err != nil {
			t.Fatal(err)
		}
		close(ts.done)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	eventually(t, "drain started", func() bool { return strings.Contains(ts.logs.String(), "tftp draining") })
	late := newRaw(t, ts.addr)
	late.send(late.srv, request(1, "f", "octet"))
	if p := late.read(300 * time.Millisecond); p != nil {
		t.Fatalf("request after shutdown answered with op %d", opcode(p))
	}
	// The server may have retransmitted block 1 meanwhile: go by numbers.
	for want := uint16(2); ; {
		r.send(r.last, ack(want-1))
		p := r.read(2 * time.Second)
		if opcode(p) != 3 {
			t.Fatalf("op %d waiting for block %d", opcode(p), want)
		}
		if binary.BigEndian.Uint16(p[2:]) != want {
			continue
		}
		got = append(got, p[4:]...)
		want++
		if len(p) < 516 {
			r.send(r.last, ack(want-1))
			break
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the transfer finished")
	}
	if got := ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", "ok"); got != 1 {
		t.Fatalf("transfers{read,ok} = %v", got)
	}
	if _, err := ts.conn.WriteToUDP([]byte{0}, ts.conn.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatalf("the listening socket was closed by the server: %v", err)
	}
}

// TestShutdownDeadline: a transfer still running when Shutdown's context
// ends is stopped with an ERROR at its next packet, and Shutdown says it
// had to.
func TestShutdownDeadline(t *testing.T) {
	cfg := fastConfig()
	cfg.Timeout = 2 * time.Second
	ts := newTestServer(t, cfg, map[string][]byte{"f": randBytes(3000)})
	r := newRaw(t, ts.addr)
	r.send(r.srv, request(1, "f", "octet"))
	if p := r.read(2 * time.Second); opcode(p) != 3 {
		t.Fatalf("op %d", opcode(p))
	}
	ts.cancel()
	if err := <-ts.done; err != nil {
		t.Fatal(err)
	}
	close(ts.done)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	eventually(t, "deadline", func() bool { return strings.Contains(ts.logs.String(), "drain deadline passed") })
	r.send(r.last, ack(1))
	code, msg, ok := errPacket(r.read(2 * time.Second))
	if !ok || msg != "server shutting down" {
		t.Fatalf("got code %d %q ok=%v", code, msg, ok)
	}
	if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
	if got := ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", "shutdown"); got != 1 {
		t.Fatalf("transfers{read,shutdown} = %v", got)
	}
}

func TestServeNeedsUDP(t *testing.T) {
	ts := newTestServer(t, fastConfig(), nil)
	if err := ts.Serve(t.Context(), nil); err == nil {
		t.Fatal("Serve accepted a nil conn")
	}
}

// malformed are first packets a server must survive without replying in
// kind: each is dropped or refused, none crashes or leaks.
var malformed = [][]byte{
	{},
	{0},
	{0, 1},
	{0, 1, 0},
	{0, 9, 'x', 0},                   // unknown opcode
	{0, 3, 0, 1, 'd', 'a', 't', 'a'}, // DATA to the server port
	{0, 4, 0, 1},                     // ACK
	{0, 5, 0, 1, 'e', 0},             // ERROR
	{0, 6, 'b', 0, '1', 0},           // OACK
	[]byte("\x00\x01noterminator"),
	[]byte("\x00\x01f\x00"), // no mode
	[]byte("\x00\x01f\x00octet\x00blksize\x00"), // option without value
	[]byte("\x00\x01f\x00octet\x00blksize\x00abc\x00tsize\x00-5\x00"),
	[]byte("\x00\x01f\x00mail\x00"),
	[]byte("\x00\x01\x00octet\x00"), // empty name
	[]byte("\x00\x02../../x\x00octet\x00"),
	append([]byte("\x00\x01"), bytes.Repeat([]byte("a/"), 600)...),
}

func fdCount() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func TestMalformedNoLeak(t *testing.T) {
	cfg := fastConfig()
	cfg.Timeout = 50 * time.Millisecond
	cfg.Retries = 1
	cfg.MaxUnverifiedPerIP = -1 // the packets and the check share 127.0.0.1
	ts := newTestServer(t, cfg, map[string][]byte{"f": []byte("hello")})
	if _, _, err := get(ts.addr, "f", "octet", 0, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "idle", func() bool { return ts.metric(t, "bootsrv_tftp_transfers_in_flight") == 0 })
	r := newRaw(t, ts.addr)
	g0, fd0 := runtime.NumGoroutine(), fdCount()
	for range 3 {
		for _, p := range malformed {
			r.send(r.srv, p)
		}
	}
	if got, _, err := get(ts.addr, "f", "octet", 0, false); err != nil || string(got) != "hello" {
		t.Fatalf("server stopped serving: %q %v", got, err)
	}
	if ts.metric(t, "bootsrv_tftp_refusals_total", "reason", reasonMalformed) == 0 {
		t.Error("malformed packets not counted")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > g0 || fdCount() > fd0 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d (was %d), fds %d (was %d)\n%s", runtime.NumGoroutine(), g0, fdCount(), fd0, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPrepareReload: a bad config changes nothing; a good one applies to
// the requests that come after it.
func TestPrepareReload(t *testing.T) {
	ts := newTestServer(t, fastConfig(), map[string][]byte{"incoming/keep": []byte("x")})
	if _, err := ts.PrepareReload(Config{Retries: -1}); err == nil {
		t.Fatal("a bad config was accepted")
	}
	if err := put(ts.addr, "up.bin", []byte("data")); err == nil || !strings.Contains(err.Error(), "writes disabled") {
		t.Fatalf("write before the reload: %v, want writes disabled", err)
	}
	cfg := fastConfig()
	cfg.AllowWrite = true
	apply, err := ts.PrepareReload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(ts.addr, "up.bin", []byte("data")); err == nil {
		t.Fatal("the reload took effect before it was applied")
	}
	apply()
	if err := put(ts.addr, "up.bin", []byte("data")); err != nil {
		t.Fatalf("write after the reload: %v", err)
	}
}
