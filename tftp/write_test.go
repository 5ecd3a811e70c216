package tftp

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeConfig() Config {
	c := fastConfig()
	c.AllowWrite = true
	return c
}

// tempFiles lists leftover upload temporaries below dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".bootsrv-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestWriteDisabled(t *testing.T) {
	ts := newTestServer(t, fastConfig(), nil)
	r := newRaw(t, ts.addr)
	r.send(r.srv, request(2, "x.cfg", "octet"))
	code, msg, ok := errPacket(r.read(2 * time.Second))
	if !ok || code != 2 || msg != "writes disabled" {
		t.Fatalf("got code %d %q ok=%v, want 2 \"writes disabled\"", code, msg, ok)
	}
	if got := ts.metric(t, "bootsrv_tftp_refusals_total", "reason", reasonWriteDisabled); got != 1 {
		t.Fatalf("refusals{write_disabled} = %v", got)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "incoming")); err == nil {
		t.Fatal("upload folder created with writes disabled")
	}
}

func TestWrite(t *testing.T) {
	ts := newTestServer(t, writeConfig(), nil)
	data := randBytes(200_000)
	if err := put(ts.addr, "switch1-confg", data); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(ts.dir, "incoming", "switch1-confg"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, err %v; want %d", len(got), err, len(data))
	}
	if tf := tempFiles(t, ts.dir); len(tf) != 0 {
		t.Fatalf("temporaries left: %v", tf)
	}
	eventually(t, "write counted", func() bool {
		return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "upload", "result", "ok") == 1
	})
	if got := ts.metric(t, "bootsrv_tftp_bytes_total", "direction", "upload"); got != float64(len(data)) {
		t.Fatalf("bytes{write} = %v", got)
	}
}

func TestWriteRefused(t *testing.T) {
	ts := newTestServer(t, writeConfig(), map[string][]byte{"incoming/taken": []byte("original")})
	tests := map[string]struct {
		file   string
		opts   []string
		code   uint16
		reason string
	}{
		"exists":        {file: "taken", code: 6, reason: reasonExists},
		"exists slash":  {file: "/taken", code: 6, reason: reasonExists},
		"traversal":     {file: "../boot.bin", code: 2, reason: reasonInvalidName},
		"deep":          {file: "a/../../../etc/x", code: 2, reason: reasonInvalidName},
		"folder itself": {file: "/", code: 2, reason: reasonInvalidName},
		"no subfolder":  {file: "sub/x", code: 1, reason: reasonNotFound},
		"tsize too big": {file: "big", opts: []string{"tsize", "300000000"}, code: 3, reason: reasonTooLarge},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRaw(t, ts.addr)
			r.send(r.srv, request(2, tc.file, "octet", tc.opts...))
			code, msg, ok := errPacket(r.read(2 * time.Second))
			if !ok || code != tc.code {
				t.Fatalf("got code %d %q ok=%v, want %d", code, msg, ok, tc.code)
			}
			if strings.Contains(msg, "/") {
				t.Errorf("message %q leaks a path", msg)
			}
		})
	}
	if got, _ := os.ReadFile(filepath.Join(ts.dir, "incoming", "taken")); string(got) != "original" {
		t.Fatalf("existing file changed to %q", got)
	}
	if got := ts.metric(t, "bootsrv_tftp_refusals_total", "reason", reasonExists); got != 2 {
		t.Fatalf("refusals{exists} = %v", got)
	}
	// pin/tftp's client reports the code it saw first: ours, not the
	// library's generic code 1.
	if err := put(ts.addr, "taken", []byte("new")); err == nil || !strings.Contains(err.Error(), "code=6") {
		t.Fatalf("put over existing: %v, want code 6", err)
	}
}

func TestWriteSizeCap(t *testing.T) {
	cfg := writeConfig()
	cfg.MaxUploadSize = 10_000
	ts := newTestServer(t, cfg, nil)
	if err := put(ts.addr, "small", randBytes(10_000)); err != nil {
		t.Fatalf("upload at the cap: %v", err)
	}
	err := put(ts.addr, "big", randBytes(30_000))
	if err == nil {
		t.Fatal("upload over the cap succeeded")
	}
	if _, serr := os.Stat(filepath.Join(ts.dir, "incoming", "big")); serr == nil {
		t.Fatal("oversized upload stored")
	}
	eventually(t, "upload aborted", func() bool {
		return ts.metric(t, "bootsrv_tftp_refusals_total", "reason", reasonTooLarge) == 1 &&
			ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "upload", "result", "error") == 1
	})
	if tf := tempFiles(t, ts.dir); len(tf) != 0 {
		t.Fatalf("temporaries left: %v", tf)
	}
}

// TestWriteRace: two clients upload the same new name at once. Both may be
// accepted (neither exists yet), but the commit is link(2): exactly one
// wins, the other gets an error, and the stored file is one whole upload.
func TestWriteRace(t *testing.T) {
	ts := newTestServer(t, writeConfig(), nil)
	a, b := randBytes(100_000), randBytes(100_000)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, d := range [][]byte{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = put(ts.addr, "same", d) }()
	}
	wg.Wait()
	got, err := os.ReadFile(filepath.Join(ts.dir, "incoming", "same"))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case errs[0] == nil && errs[1] == nil:
		t.Fatal("both uploads reported success")
	case errs[0] == nil && !bytes.Equal(got, a), errs[1] == nil && !bytes.Equal(got, b):
		t.Fatal("stored content is not the successful upload")
	}
	eventually(t, "both ended", func() bool { return ts.metric(t, "bootsrv_tftp_transfers_in_flight") == 0 })
	if tf := tempFiles(t, ts.dir); len(tf) != 0 {
		t.Fatalf("temporaries left: %v", tf)
	}
}

// TestWriteDiskFull mounts a 256 KiB tmpfs as the store (root only).
func TestWriteDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	ts := newTestServerIn(t, dir, writeConfig(), nil)
	err := put(ts.addr, "huge", randBytes(1<<20))
	if err == nil {
		t.Fatal("upload larger than the disk succeeded")
	}
	eventually(t, "disk full counted", func() bool {
		return ts.metric(t, "bootsrv_tftp_refusals_total", "reason", reasonDiskFull) == 1
	})
	if tf := tempFiles(t, dir); len(tf) != 0 {
		t.Fatalf("temporaries left: %v", tf)
	}
	if !strings.Contains(ts.logs.String(), "no space left") {
		t.Error("log lacks the cause")
	}
	// The space is back: a small upload works.
	if err := put(ts.addr, "small", randBytes(1000)); err != nil {
		t.Fatalf("upload after disk full: %v", err)
	}
}

// TestUploadACKs: the ACKs an upload gets for a given order of DATA blocks
// (RFC 7440 section 4): one per window; for a gap or a resent window, one
// ACK of the last in-order block, after which the window count restarts
// from there; never one per duplicate block. Lock-step (RFC 1350) still
// gets an ACK for each repeat of its block.
func TestUploadACKs(t *testing.T) {
	tests := map[string]struct {
		window int      // 0: no windowsize option (lock-step, ACK 0 reply)
		blocks []uint16 // DATA sent in this order; the highest is the short last one
		acks   []uint16
	}{
		"in order":                 {window: 4, blocks: []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9}, acks: []uint16{4, 8, 9}},
		"window resent":            {window: 4, blocks: []uint16{1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9}, acks: []uint16{4, 4, 8, 9}},
		"gap":                      {window: 4, blocks: []uint16{1, 2, 4, 5, 3, 4, 5, 6, 7, 8, 9, 10}, acks: []uint16{2, 6, 10}},
		"gap, round repeated":      {window: 4, blocks: []uint16{1, 2, 4, 5, 4, 5, 3, 4, 5, 6, 7}, acks: []uint16{2, 2, 6, 7}},
		"lock-step, block repeats": {blocks: []uint16{1, 1, 1, 2}, acks: []uint16{1, 1, 1, 2}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := writeConfig()
			cfg.Timeout = time.Second // no timer ACKs during the exchange
			ts := newTestServer(t, cfg, nil)
			r := newRaw(t, ts.addr)
			var opts []string
			if tc.window > 0 {
				opts = []string{"windowsize", strconv.Itoa(tc.window)}
			}
			r.send(r.srv, request(2, "up", "octet", opts...))
			if p := r.read(2 * time.Second); opcode(p) != 6 && opcode(p) != 4 {
				t.Fatalf("first reply %q", p)
			}
			last := slices.Max(tc.blocks)
			block := func(n uint16) []byte {
				size := 512
				if n == last {
					size = 100
				}
				return append([]byte{0, 3, byte(n >> 8), byte(n)}, bytes.Repeat([]byte{byte(n)}, size)...)
			}
			for _, n := range tc.blocks {
				r.send(r.last, block(n))
			}
			var acks []uint16
			for len(acks) == 0 || acks[len(acks)-1] != last {
				p := r.read(2 * time.Second)
				if opcode(p) != 4 {
					t.Fatalf("after ACKs %v: %q", acks, p)
				}
				acks = append(acks, binary.BigEndian.Uint16(p[2:]))
			}
			r.send(r.last, packError(0, "done")) // ends the server's dally
			if !slices.Equal(acks, tc.acks) {
				t.Fatalf("ACKs %v, want %v", acks, tc.acks)
			}
			var want []byte
			for n := uint16(1); n <= last; n++ {
				want = append(want, block(n)[4:]...)
			}
			eventually(t, "upload counted", func() bool {
				return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "upload", "result", "ok") == 1
			})
			if got, err := os.ReadFile(filepath.Join(ts.dir, "incoming", "up")); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("stored %d bytes (%v), want %d", len(got), err, len(want))
			}
		})
	}
}

// TestUploadLeavesNothing: an upload that does not reach its short last
// block leaves nothing under its name and no temporary, and a WRQ creates
// no file before the client sends data.
func TestUploadLeavesNothing(t *testing.T) {
	full := append([]byte{0, 3, 0, 1}, make([]byte, 512)...)
	tests := map[string]struct {
		opts   []string
		then   func(r *rawConn) // after the first reply
		result string
	}{
		"never answered": {result: resultUnverifiedTimeout},
		"stops after block 1": {then: func(r *rawConn) {
			r.send(r.last, full)
			r.read(2 * time.Second) // ACK 1
		}, result: resultTimeout},
		"error after block 1": {then: func(r *rawConn) {
			r.send(r.last, full)
			r.read(2 * time.Second)
			r.send(r.last, packError(0, "cancelled"))
		}, result: resultPeerAbort},
		"stops inside a window": {opts: []string{"windowsize", "4"}, then: func(r *rawConn) {
			r.send(r.last, full)
			r.send(r.last, append([]byte{0, 3, 0, 2}, make([]byte, 512)...))
		}, result: resultTimeout},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := writeConfig()
			cfg.Timeout = 100 * time.Millisecond
			cfg.Retries = 1
			ts := newTestServer(t, cfg, nil)
			r := newRaw(t, ts.addr)
			r.send(r.srv, request(2, "partial", "octet", tc.opts...))
			if p := r.read(2 * time.Second); opcode(p) != 4 && opcode(p) != 6 {
				t.Fatalf("first reply %q", p)
			}
			if tf := tempFiles(t, ts.dir); len(tf) != 0 {
				t.Fatalf("files created before any data: %v", tf)
			}
			if tc.then != nil {
				tc.then(r)
			}
			eventually(t, "upload ended", func() bool {
				return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "upload", "result", tc.result) == 1 &&
					ts.metric(t, "bootsrv_tftp_transfers_in_flight") == 0
			})
			if _, err := os.Stat(filepath.Join(ts.dir, "incoming", "partial")); err == nil {
				t.Fatal("partial upload stored under its name")
			}
			if tf := tempFiles(t, ts.dir); len(tf) != 0 {
				t.Fatalf("temporaries left: %v", tf)
			}
		})
	}
}
