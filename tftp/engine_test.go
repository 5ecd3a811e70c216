package tftp

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseRequest(t *testing.T) {
	tests := map[string]struct {
		p    []byte
		want requestPacket
		bad  bool
	}{
		"rrq":          {p: request(1, "a/b", "octet"), want: requestPacket{op: 1, file: "a/b", mode: "octet"}},
		"mode case":    {p: request(2, "x", "NetASCII"), want: requestPacket{op: 2, file: "x", mode: "netascii"}},
		"options":      {p: request(1, "f", "octet", "BlkSize", "1468", "tsize", "0"), want: requestPacket{op: 1, file: "f", mode: "octet", options: []option{{"blksize", "1468"}, {"tsize", "0"}}}},
		"nul padding":  {p: append(request(1, "f", "octet"), 0, 0, 0), want: requestPacket{op: 1, file: "f", mode: "octet"}},
		"no value":     {p: []byte("\x00\x01f\x00octet\x00blksize\x00"), want: requestPacket{op: 1, file: "f", mode: "octet"}},
		"unterminated": {p: []byte("\x00\x01f\x00octet\x00blksize\x001468"), want: requestPacket{op: 1, file: "f", mode: "octet"}},
		"short":        {p: []byte{0}, bad: true},
		"data":         {p: []byte{0, 3, 0, 1}, bad: true},
		"no mode":      {p: []byte("\x00\x01f\x00"), bad: true},
		"empty name":   {p: []byte("\x00\x01\x00octet\x00"), bad: true},
		"no nul":       {p: []byte("\x00\x01file"), bad: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseRequest(tc.p)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	lim := limits{maxBlock: 8192, maxWindow: 64, maxUpload: 1000}
	tests := map[string]struct {
		op      uint16
		opts    []string
		size    int64
		lim     *limits
		blksize int
		window  int
		timeout time.Duration
		oack    []option
		refuse  string
	}{
		"none":              {op: 1, size: 10, blksize: 512, window: 1},
		"blksize":           {op: 1, opts: []string{"blksize", "1468"}, blksize: 1468, window: 1, oack: []option{{"blksize", "1468"}}},
		"blksize capped":    {op: 1, opts: []string{"blksize", "65464"}, blksize: 8192, window: 1, oack: []option{{"blksize", "8192"}}},
		"blksize mtu":       {op: 1, opts: []string{"blksize", "9000"}, lim: &limits{maxBlock: 1468, maxWindow: 64}, blksize: 1468, window: 1, oack: []option{{"blksize", "1468"}}},
		"blksize below 8":   {op: 1, opts: []string{"blksize", "7"}, blksize: 512, window: 1},
		"blksize 8":         {op: 1, opts: []string{"blksize", "8"}, blksize: 8, window: 1, oack: []option{{"blksize", "8"}}},
		"blksize text":      {op: 1, opts: []string{"blksize", "big"}, blksize: 512, window: 1},
		"blksize negative":  {op: 1, opts: []string{"blksize", "-1468"}, blksize: 512, window: 1},
		"repeated option":   {op: 1, opts: []string{"blksize", "1024", "blksize", "2048"}, blksize: 1024, window: 1, oack: []option{{"blksize", "1024"}}},
		"tsize read":        {op: 1, opts: []string{"tsize", "0"}, size: 12345, blksize: 512, window: 1, oack: []option{{"tsize", "12345"}}},
		"tsize unknown":     {op: 1, opts: []string{"tsize", "0"}, size: -1, blksize: 512, window: 1},
		"tsize write":       {op: 2, opts: []string{"tsize", "1000"}, blksize: 512, window: 1, oack: []option{{"tsize", "1000"}}},
		"tsize write big":   {op: 2, opts: []string{"tsize", "1001"}, refuse: reasonTooLarge},
		"timeout":           {op: 1, opts: []string{"timeout", "3"}, blksize: 512, window: 1, timeout: 3 * time.Second, oack: []option{{"timeout", "3"}}},
		"timeout 0":         {op: 1, opts: []string{"timeout", "0"}, blksize: 512, window: 1},
		"timeout 256":       {op: 1, opts: []string{"timeout", "256"}, blksize: 512, window: 1},
		"windowsize":        {op: 1, opts: []string{"windowsize", "16"}, blksize: 512, window: 16, oack: []option{{"windowsize", "16"}}},
		"windowsize capped": {op: 1, opts: []string{"windowsize", "65535"}, blksize: 512, window: 64, oack: []option{{"windowsize", "64"}}},
		"windowsize 0":      {op: 1, opts: []string{"windowsize", "0"}, blksize: 512, window: 1},
		"window by memory":  {op: 1, opts: []string{"windowsize", "64", "blksize", "8192"}, blksize: 8192, window: 16, oack: []option{{"windowsize", "16"}, {"blksize", "8192"}}},
		"unknown":           {op: 1, opts: []string{"multicast", "", "x", "1"}, blksize: 512, window: 1},
		"all, in order":     {op: 1, opts: []string{"tsize", "0", "blksize", "1432", "windowsize", "4", "timeout", "1"}, size: 7, blksize: 1432, window: 4, timeout: time.Second, oack: []option{{"tsize", "7"}, {"blksize", "1432"}, {"windowsize", "4"}, {"timeout", "1"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, err := parseRequest(request(tc.op, "f", "octet", tc.opts...))
			if err != nil {
				t.Fatal(err)
			}
			l := lim
			if tc.lim != nil {
				l = *tc.lim
			}
			p, r := negotiate(req, l, tc.size)
			if tc.refuse != "" {
				if r == nil || r.reason != tc.refuse || r.code != codeDiskFull {
					t.Fatalf("refusal %+v, want %s code 3", r, tc.refuse)
				}
				return
			}
			if r != nil {
				t.Fatalf("refused: %v", r)
			}
			if p.blksize != tc.blksize || p.window != tc.window || p.timeout != tc.timeout || !reflect.DeepEqual(p.oack, tc.oack) {
				t.Fatalf("got %+v, want blksize %d window %d timeout %s oack %v", p, tc.blksize, tc.window, tc.timeout, tc.oack)
			}
		})
	}
}

// FuzzParseRequest checks the parser and the negotiation on any bytes:
// no panic, and whatever is negotiated stays inside the limits.
func FuzzParseRequest(f *testing.F) {
	for _, p := range malformed {
		f.Add(p)
	}
	f.Add(request(1, "f", "octet", "blksize", "1468", "windowsize", "16", "tsize", "0", "timeout", "2"))
	f.Add(request(2, "f", "NETASCII", "tsize", "99999999999999999999"))
	lim := limits{maxBlock: 1468, maxWindow: 64, maxUpload: 1 << 20}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseRequest(b)
		if err != nil {
			return
		}
		if req.file == "" || strings.ContainsRune(req.file, 0) || req.mode != strings.ToLower(req.mode) || len(req.options) > maxRequestOptions {
			t.Fatalf("bad parse %+v", req)
		}
		p, r := negotiate(req, lim, 42)
		if r != nil {
			return
		}
		if p.blksize < minBlockSize || p.blksize > lim.maxBlock || p.window < 1 || p.window > lim.maxWindow ||
			p.blksize*p.window > max(maxWindowBytes, p.blksize) || p.timeout < 0 || p.timeout > 255*time.Second {
			t.Fatalf("out of limits: %+v", p)
		}
		for _, o := range p.oack {
			switch o.name {
			case "blksize", "tsize", "timeout", "windowsize":
			default:
				t.Fatalf("OACK holds unknown option %q", o.name)
			}
		}
	})
}

// TestWindowLoss: windowed and lock-step reads where the client loses
// every Nth DATA and every Mth ACK still deliver every byte, in order.
func TestWindowLoss(t *testing.T) {
	data := randBytes(200_000)
	cfg := fastConfig()
	cfg.Timeout = 100 * time.Millisecond
	cfg.Retries = 20
	ts := newTestServer(t, cfg, map[string][]byte{"f": data})
	tests := map[string]wclient{
		"window 16, no loss":          {blksize: 1468, window: 16},
		"window 16, data 1/7":         {blksize: 1468, window: 16, dropData: 7},
		"window 16, data 1/7 ack 1/3": {blksize: 1468, window: 16, dropData: 7, dropACK: 3},
		"window 4, blksize 512":       {blksize: 512, window: 4, dropData: 5, dropACK: 4},
		"window 64, data 1/16":        {blksize: 1024, window: 64, dropData: 16},
		"lock-step, data 1/9 ack 1/5": {blksize: 1468, dropData: 9, dropACK: 5},
	}
	var mu sync.Mutex
	wantOK := 0
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			c.timeout = 150 * time.Millisecond
			got, err := c.get(ts.addr, "f")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("content differs: %d bytes, want %d", len(got), len(data))
			}
			if c.window > 0 && c.oack["windowsize"] != strconv.Itoa(c.window) {
				t.Fatalf("OACK %v", c.oack)
			}
			if !c.lostFinal {
				mu.Lock()
				wantOK++
				mu.Unlock()
			}
		})
	}
	// A transfer whose final ACK was lost ends by timeout on the server,
	// as in any TFTP; the others end ok.
	eventually(t, "all counted", func() bool {
		return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", "ok") == float64(wantOK) &&
			ts.metric(t, "bootsrv_tftp_transfers_in_flight") == 0
	})
}

// TestBlockWrap: block numbers wrap past 65535 (to 0) without losing data.
func TestBlockWrap(t *testing.T) {
	data := randBytes(70_000 * 8)
	ts := newTestServer(t, fastConfig(), map[string][]byte{"f": data})
	c := wclient{blksize: 8, window: 32}
	got, err := c.get(ts.addr, "f")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
}

// TestForeignTID: a packet to a transfer's port from another port gets
// ERROR 5 and the transfer carries on (RFC 1350 section 4).
func TestForeignTID(t *testing.T) {
	data := randBytes(5000)
	ts := newTestServer(t, fastConfig(), map[string][]byte{"f": data})
	r := newRaw(t, ts.addr)
	r.send(r.srv, request(1, "f", "octet"))
	p := r.read(2 * time.Second)
	if opcode(p) != 3 {
		t.Fatalf("op %d", opcode(p))
	}
	tid := r.last
	stranger := newRaw(t, ts.addr)
	stranger.send(tid, ack(1))
	code, msg, ok := errPacket(stranger.read(2 * time.Second))
	if !ok || code != 5 {
		t.Fatalf("stranger got code %d %q ok=%v, want 5", code, msg, ok)
	}
	got := append([]byte(nil), p[4:]...)
	for want := uint16(2); ; want++ {
		r.send(tid, ack(want-1))
		p := r.read(2 * time.Second)
		if opcode(p) != 3 || binary.BigEndian.Uint16(p[2:]) != want || r.last.String() != tid.String() {
			t.Fatalf("op %d block %d from %v, want block %d", opcode(p), binary.BigEndian.Uint16(p[2:]), r.last, want)
		}
		got = append(got, p[4:]...)
		if len(p) < 516 {
			r.send(tid, ack(want))
			break
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// TestErrorCodes: what the server answers, with which RFC 1350 code.
func TestErrorCodes(t *testing.T) {
	cfg := writeConfig()
	cfg.MaxUploadSize = 1000
	ts := newTestServer(t, cfg, map[string][]byte{"f": randBytes(3000), "incoming/have": []byte("x")})
	tests := map[string]struct {
		first []byte
		then  func(r *rawConn) // after the first reply, if any
		code  uint16
	}{
		"not found":          {first: request(1, "nope", "octet"), code: 1},
		"access":             {first: request(1, "../x", "octet"), code: 2},
		"mail mode":          {first: request(1, "f", "mail"), code: 4},
		"malformed":          {first: []byte("\x00\x01f\x00"), code: 4},
		"write exists":       {first: request(2, "have", "octet"), code: 6},
		"write tsize":        {first: request(2, "big", "octet", "tsize", "1001"), code: 3},
		"data during a read": {first: request(1, "f", "octet"), then: func(r *rawConn) { r.send(r.last, []byte{0, 3, 0, 1, 'x'}) }, code: 4},
		"upload over the cap": {first: request(2, "over", "octet"), then: func(r *rawConn) {
			for i := uint16(1); i <= 2; i++ {
				r.send(r.last, append([]byte{0, 3, 0, byte(i)}, make([]byte, 512)...))
				if i == 1 {
					r.read(2 * time.Second) // ACK 1
				}
			}
		}, code: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRaw(t, ts.addr)
			r.send(r.srv, tc.first)
			p := r.read(2 * time.Second)
			if tc.then != nil {
				if opcode(p) == 5 {
					t.Fatalf("refused at once: %q", p)
				}
				tc.then(r)
				p = r.read(2 * time.Second)
			}
			code, msg, ok := errPacket(p)
			if !ok || code != tc.code {
				t.Fatalf("got %q (code %d %q), want code %d", p, code, msg, tc.code)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "incoming", "over")); err == nil {
		t.Error("upload over the cap stored")
	}
}

// TestNetasciiWrite: an upload in netascii (any case) is stored decoded.
func TestNetasciiWrite(t *testing.T) {
	ts := newTestServer(t, writeConfig(), nil)
	r := newRaw(t, ts.addr)
	r.send(r.srv, request(2, "n.txt", "NetAscii"))
	if p := r.read(2 * time.Second); opcode(p) != 4 {
		t.Fatalf("op %d, want ACK 0", opcode(p))
	}
	r.send(r.last, append([]byte{0, 3, 0, 1}, "a\r\nb\r\x00c\r"...))
	if p := r.read(2 * time.Second); opcode(p) != 4 || binary.BigEndian.Uint16(p[2:]) != 1 {
		t.Fatalf("final ACK: %q", p)
	}
	got, err := os.ReadFile(filepath.Join(ts.dir, "incoming", "n.txt"))
	if err != nil || string(got) != "a\nb\rc\r" {
		t.Fatalf("stored %q, %v", got, err)
	}
}
