package tftp

import (
	"testing"
	"time"
)

// FuzzRequest sends arbitrary bytes as a first packet to a running server
// and checks it still serves afterwards. Leaks are checked with the same
// packets by TestMalformedNoLeak; here every input is also run under -race.
func FuzzRequest(f *testing.F) {
	for _, p := range malformed {
		f.Add(p)
	}
	f.Add(request(1, "f", "octet", "blksize", "1468", "tsize", "0"))
	f.Add(request(1, "f", "netascii", "blksize", "65464"))
	f.Add(request(2, "up", "octet", "tsize", "10"))
	cfg := fastConfig()
	cfg.Timeout = 20 * time.Millisecond
	cfg.Retries = 1
	cfg.AllowWrite = true
	cfg.MaxUploadSize = 4096
	// Every input and the check come from 127.0.0.1: without this, the
	// unverified transfers that valid inputs start (about 60 at a time
	// when fuzzing) would make the check get "server busy" from the
	// per-address caps, which TestPerIPCaps covers.
	cfg.MaxUnverifiedPerIP = -1
	cfg.MaxTransfersPerIP = -1
	ts := newTestServer(f, cfg, map[string][]byte{"f": []byte("hello")})
	f.Fuzz(func(t *testing.T, p []byte) {
		r := newRaw(t, ts.addr)
		r.send(r.srv, p)
		got, _, err := get(ts.addr, "f", "octet", 0, false)
		if err != nil || string(got) != "hello" {
			t.Fatalf("server stopped serving after %q: %q %v", p, got, err)
		}
	})
}
