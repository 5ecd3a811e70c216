package tftp

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRead(t *testing.T) {
	big := randBytes(300_000)
	files := map[string][]byte{
		"boot.bin":      big,
		"empty":         {},
		"exact":         randBytes(512 * 4), // needs a final empty DATA block
		"dir/sub/x.cfg": []byte("console=ttyS0\n"),
		"text.txt":      []byte("line1\nline2\r\nbare\rend\n"),
	}
	ts := newTestServer(t, fastConfig(), files)
	tests := map[string]struct {
		file, mode string
		blksize    int
		want       []byte
	}{
		"octet 512":           {file: "boot.bin", mode: "octet", want: big},
		"octet blksize 1468":  {file: "boot.bin", mode: "octet", blksize: 1468, want: big},
		"octet blksize 8192":  {file: "boot.bin", mode: "octet", blksize: 8192, want: big},
		"octet blksize 65464": {file: "boot.bin", mode: "octet", blksize: 65464, want: big},
		"empty file":          {file: "empty", mode: "octet", want: []byte{}},
		"block multiple":      {file: "exact", mode: "octet", want: files["exact"]},
		"subfolder":           {file: "dir/sub/x.cfg", mode: "octet", want: files["dir/sub/x.cfg"]},
		"leading slash":       {file: "/dir/sub/x.cfg", mode: "octet", want: files["dir/sub/x.cfg"]},
		"windows separators":  {file: `dir\sub\x.cfg`, mode: "octet", want: files["dir/sub/x.cfg"]},
		// RFC 1350 netascii: LF -> CR LF, CR -> CR NUL on the wire; pin/tftp's
		// client decodes it back.
		"netascii": {file: "text.txt", mode: "netascii", want: files["text.txt"]},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, _, err := get(ts.addr, tc.file, tc.mode, tc.blksize, false)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, want %d (content differs)", len(got), len(tc.want))
			}
		})
	}
}

// TestNetasciiWire checks the bytes on the wire, not just a round trip.
func TestNetasciiWire(t *testing.T) {
	ts := newTestServer(t, fastConfig(), map[string][]byte{"t": []byte("a\nb\rc")})
	r := newRaw(t, ts.addr)
	got, _ := rawGet(t, r, request(1, "t", "netascii"), 512)
	if want := "a\r\nb\r\x00c"; string(got) != want {
		t.Fatalf("wire %q, want %q", got, want)
	}
}

func TestOptions(t *testing.T) {
	data := randBytes(100_000)
	tests := map[string]struct {
		max      int
		opts     []string
		wantOACK map[string]string // nil: no OACK, DATA straight away
	}{
		"tsize":               {opts: []string{"tsize", "0"}, wantOACK: map[string]string{"tsize": "100000"}},
		"blksize":             {opts: []string{"blksize", "1468"}, wantOACK: map[string]string{"blksize": "1468"}},
		"blksize capped":      {max: 1024, opts: []string{"blksize", "8192"}, wantOACK: map[string]string{"blksize": "1024"}},
		"blksize and tsize":   {opts: []string{"blksize", "1432", "tsize", "0"}, wantOACK: map[string]string{"blksize": "1432", "tsize": "100000"}},
		"blksize too small":   {opts: []string{"blksize", "7"}},
		"unknown option only": {opts: []string{"multicast", ""}},
		"unknown ignored":     {opts: []string{"x-bogus", "1", "blksize", "1024"}, wantOACK: map[string]string{"blksize": "1024"}},
		// RFC 2349 section 2: the timeout option is echoed when in 1..255.
		"timeout":       {opts: []string{"timeout", "1", "blksize", "600"}, wantOACK: map[string]string{"timeout": "1", "blksize": "600"}},
		"timeout zero":  {opts: []string{"timeout", "0", "blksize", "600"}, wantOACK: map[string]string{"blksize": "600"}},
		"timeout large": {opts: []string{"timeout", "256"}},
		// RFC 7440: windowsize, acknowledged and used.
		"windowsize":        {opts: []string{"windowsize", "4"}, wantOACK: map[string]string{"windowsize": "4"}},
		"windowsize capped": {opts: []string{"windowsize", "1000"}, wantOACK: map[string]string{"windowsize": "64"}},
		"windowsize zero":   {opts: []string{"windowsize", "0"}},
		// RFC 2347 section 2: option names are case-insensitive.
		"option case": {opts: []string{"BLKSIZE", "1468", "TSize", "0"}, wantOACK: map[string]string{"blksize": "1468", "tsize": "100000"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := fastConfig()
			cfg.MaxBlockSize = tc.max
			ts := newTestServer(t, cfg, map[string][]byte{"f": data})
			r := newRaw(t, ts.addr)
			blk := 512
			if v, ok := tc.wantOACK["blksize"]; ok {
				blk, _ = strconv.Atoi(v)
			}
			got, first := rawGet(t, r, request(1, "f", "octet", tc.opts...), blk)
			if !bytes.Equal(got, data) {
				t.Fatalf("content differs (%d bytes)", len(got))
			}
			if tc.wantOACK == nil {
				if opcode(first) != 3 {
					t.Fatalf("first packet op %d, want DATA", opcode(first))
				}
				return
			}
			if opcode(first) != 6 {
				t.Fatalf("first packet op %d, want OACK", opcode(first))
			}
			gotOpts := oackOptions(first)
			if len(gotOpts) != len(tc.wantOACK) {
				t.Fatalf("OACK %v, want %v", gotOpts, tc.wantOACK)
			}
			for k, v := range tc.wantOACK {
				if gotOpts[k] != v {
					t.Fatalf("OACK %v, want %v", gotOpts, tc.wantOACK)
				}
			}
		})
	}
}

func TestTsizeClient(t *testing.T) {
	data := randBytes(77_777)
	ts := newTestServer(t, fastConfig(), map[string][]byte{"f": data})
	got, size, err := get(ts.addr, "f", "octet", 1468, true)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("tsize %d, %d bytes; want %d", size, len(got), len(data))
	}
}

func TestReadRefused(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644)
	ts := newTestServer(t, fastConfig(), map[string][]byte{"ok": []byte("x"), "sub/y": []byte("y")})
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(ts.dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../"+filepath.Base(outside), filepath.Join(ts.dir, "sub", "up")); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		file   string
		code   uint16
		reason string
	}{
		"missing":            {file: "nope", code: 1, reason: reasonNotFound},
		"directory":          {file: "sub", code: 1, reason: reasonNotFound},
		"root":               {file: "/", code: 1, reason: reasonNotFound},
		"parent traversal":   {file: "../etc/passwd", code: 2, reason: reasonInvalidName},
		"deep traversal":     {file: "sub/../../etc/passwd", code: 2, reason: reasonInvalidName},
		"backslash traverse": {file: `..\..\etc\passwd`, code: 2, reason: reasonInvalidName},
		"absolute outside":   {file: "/etc/passwd", code: 1, reason: reasonNotFound}, // served from the store root, where it is not
		"symlink escape":     {file: "escape", code: 2, reason: reasonInvalidName},
		"dir symlink escape": {file: "sub/up/secret", code: 2, reason: reasonInvalidName},
		"control char":       {file: "a\x01b", code: 2, reason: reasonInvalidName},
		"temp name":          {file: ".bootsrv-up-1", code: 2, reason: reasonInvalidName},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := ts.metric(t, "bootsrv_tftp_refusals_total", "reason", tc.reason)
			r := newRaw(t, ts.addr)
			r.send(r.srv, request(1, tc.file, "octet"))
			p := r.read(2 * time.Second)
			code, msg, ok := errPacket(p)
			if !ok {
				t.Fatalf("got op %d, want ERROR", opcode(p))
			}
			if code != tc.code {
				t.Errorf("code %d (%q), want %d", code, msg, tc.code)
			}
			if strings.Contains(msg, ts.dir) || strings.Contains(msg, "/") || len(msg) > 40 {
				t.Errorf("message %q leaks detail", msg)
			}
			if got := ts.metric(t, "bootsrv_tftp_refusals_total", "reason", tc.reason); got != before+1 {
				t.Errorf("refusals{%s} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
	if !strings.Contains(ts.logs.String(), `"message":"tftp request refused"`) {
		t.Error("no refusal log line")
	}
}
