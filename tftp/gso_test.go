//go:build linux

package tftp

import (
	"bytes"
	"sync"
	"testing"
)

// gsoSpy counts the UDP GSO sends of a server and can refuse them.
type gsoSpy struct {
	mu       sync.Mutex
	calls    int
	segments int
	refuse   bool
}

func (g *gsoSpy) send(s *segmenter, bufs [][]byte, seg int) error {
	g.mu.Lock()
	g.calls++
	g.segments += len(bufs) / 2
	refuse := g.refuse
	g.mu.Unlock()
	if refuse {
		return errGSOUnsupported
	}
	return s.send(bufs, seg)
}

// TestWindowSegmented: a window goes out in UDP GSO sends of at most
// gsoMaxBytes, each block still its own datagram in order, with
// retransmissions and the short last block; lock-step reads never
// segment.
func TestWindowSegmented(t *testing.T) {
	data := randBytes(300_000 + 77)
	tests := map[string]struct {
		c         wclient
		wantCalls bool
	}{
		"window 16":                 {c: wclient{blksize: 1468, window: 16}, wantCalls: true},
		"window 64, two sends each": {c: wclient{blksize: 1468, window: 64}, wantCalls: true},
		"window 8, data 1/5":        {c: wclient{blksize: 1024, window: 8, dropData: 5}, wantCalls: true},
		"lock-step":                 {c: wclient{blksize: 1468}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := fastConfig()
			cfg.Retries = 20
			spy := &gsoSpy{}
			ts := newTestServer(t, cfg, map[string][]byte{"f": data}, func(s *Server) { s.gsoSend = spy.send })
			got, err := tc.c.get(ts.addr, "f")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes, %v", len(got), err)
			}
			spy.mu.Lock()
			defer spy.mu.Unlock()
			if (spy.calls > 0) != tc.wantCalls {
				t.Fatalf("%d GSO sends", spy.calls)
			}
			if tc.c.window > 0 && tc.c.dropData == 0 {
				per := gsoMaxBytes / (4 + tc.c.blksize)
				blocks := len(data)/tc.c.blksize + 1
				if spy.segments < blocks-tc.c.window || spy.calls < blocks/min(per, tc.c.window) {
					t.Fatalf("%d GSO sends of %d blocks for %d blocks", spy.calls, spy.segments, blocks)
				}
			}
		})
	}
}

// TestWindowWithoutSegmentation: where the kernel refuses UDP GSO, the
// transfer asks once, then sends its windows block by block.
func TestWindowWithoutSegmentation(t *testing.T) {
	data := randBytes(100_000)
	spy := &gsoSpy{refuse: true}
	ts := newTestServer(t, fastConfig(), map[string][]byte{"f": data}, func(s *Server) { s.gsoSend = spy.send })
	c := wclient{blksize: 1468, window: 16}
	got, err := c.get(ts.addr, "f")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if c.dataSeen != len(data)/1468+1 {
		t.Errorf("%d DATA packets, want %d", c.dataSeen, len(data)/1468+1)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if spy.calls != 1 {
		t.Errorf("%d GSO attempts, want 1", spy.calls)
	}
}
