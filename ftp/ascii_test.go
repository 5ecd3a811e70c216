package ftp

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestASCIITransfers(t *testing.T) {
	ts := newTestServer(t, writerConfig(), map[string]string{"up/": "", "text": "one\ntwo\r\nthree"})
	c := ts.dial(t)
	c.login("netops", "secret")
	c.cmd(200, "TYPE A")
	if got := c.retr("text"); string(got) != "one\r\ntwo\r\nthree" {
		t.Errorf("TYPE A RETR = %q", got)
	}
	if code := c.stor("STOR", "up/cfg", []byte("a\r\nb\rc\r\n\r")); code != 226 {
		t.Fatalf("TYPE A STOR = %d", code)
	}
	if got, _ := os.ReadFile(filepath.Join(ts.dir, "up/cfg")); string(got) != "a\nb\rc\n\r" {
		t.Errorf("TYPE A upload stored %q", got)
	}
	c.cmd(550, "SIZE text")
	c.cmd(501, "REST 3")
	c.cmd(504, "TYPE E") // refused: still ASCII
	c.cmd(550, "SIZE text")
	c.cmd(200, "TYPE I")
	c.cmd(213, "SIZE text")
	if got := c.retr("text"); string(got) != "one\ntwo\r\nthree" {
		t.Errorf("TYPE I RETR = %q", got)
	}
}

// TestASCIIStallTimesOut: a TYPE A transfer whose client stops moving
// data ends at data_timeout like a binary one (426), the session goes on,
// and a stalled upload gives its resume lock back.
func TestASCIIStallTimesOut(t *testing.T) {
	big := strings.Repeat("a line of text\n", 1<<20) // 15 MiB: more than the socket buffers
	cfg := writerConfig()
	cfg.Limits.DataTimeout = 300 * time.Millisecond
	ts := newTestServer(t, cfg, map[string]string{"up/": "", "big.txt": big})
	for _, typ := range []string{"A", "I"} {
		c := ts.dial(t)
		c.login("netops", "secret")
		c.cmd(200, "TYPE %s", typ)

		d := c.pasv()
		c.cmd(150, "STOR up/stalled")
		d.Write([]byte("first line\r\n"))
		c.expect(426) // and d stays open, silent
		d.Close()
		if code := c.stor("STOR", "up/stalled", []byte("whole\r\n")); code != 226 {
			t.Fatalf("TYPE %s: STOR after the stall = %d, want 226 (the lock is free)", typ, code)
		}
		c.cmd(250, "DELE up/stalled")

		d = c.pasv()
		c.cmd(150, "RETR big.txt")
		c.expect(426) // d is never read
		d.Close()
		c.cmd(200, "NOOP")
	}
}

// FuzzASCII: converting in chunks gives what converting at once gives,
// CRLF conversion leaves no bare LF, and LF conversion no CRLF.
func FuzzASCII(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\nb", "\r", "\r\r\n", "x\n\r\n\r"} {
		f.Add([]byte(s), uint(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint) {
		i := int(split % uint(len(b)+1))
		var cr bool
		whole := toCRLF(nil, b, &cr)
		cr = false
		parts := toCRLF(toCRLF(nil, b[:i], &cr), b[i:], &cr)
		if !bytes.Equal(whole, parts) {
			t.Fatalf("toCRLF in chunks %q, at once %q", parts, whole)
		}
		for j, c := range whole {
			if c == '\n' && (j == 0 || whole[j-1] != '\r') {
				t.Fatalf("toCRLF left a bare LF: %q", whole)
			}
		}
		unix := func(chunks ...[]byte) []byte {
			var cr bool
			var out []byte
			for _, c := range chunks {
				out = fromCRLF(out, c, &cr)
			}
			if cr {
				out = append(out, '\r')
			}
			return out
		}
		if a, c := unix(b), unix(b[:i], b[i:]); !bytes.Equal(a, c) {
			t.Fatalf("fromCRLF in chunks %q, at once %q", c, a)
		}
		if bytes.Contains(unix(b), []byte("\r\n")) && !bytes.Contains(b, []byte("\r\r\n")) {
			t.Fatalf("fromCRLF left a CRLF: %q", unix(b))
		}
		if !bytes.ContainsRune(b, '\r') {
			if got := unix(whole); !bytes.Equal(got, b) {
				t.Fatalf("round trip of %q gave %q", b, got)
			}
		}
	})
}
