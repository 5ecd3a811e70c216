package ftp

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// TestPassivePorts: every candidate is inside the range, the library may
// try all of them, and a search's first n draws are the n ports of the
// range, each once.
func TestPassivePorts(t *testing.T) {
	tests := map[string]PortRange{
		"one port":     {First: 40000, Last: 40000},
		"two ports":    {First: 40000, Last: 40001},
		"eight":        {First: 40000, Last: 40007},
		"default":      DefaultPassivePorts,
		"bench's 1000": {First: 30000, Last: 30999},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			g := newPassivePorts(r)
			n := r.Last - r.First + 1
			for search := range 20 {
				if got := g.NumberAttempts(); got != n {
					t.Fatalf("NumberAttempts = %d, want %d", got, n)
				}
				seen := map[int]bool{}
				for range n {
					exposed, listened, ok := g.FetchNext()
					if !ok || exposed != listened || exposed < r.First || exposed > r.Last {
						t.Fatalf("FetchNext = %d, %d, %v outside %v", exposed, listened, ok, r)
					}
					seen[exposed] = true
				}
				if len(seen) != n {
					t.Fatalf("search %d: %d of %d ports in its first %d draws", search, len(seen), n, n)
				}
			}
		})
	}
}

// TestPassivePortsUnpredictable: the first port of consecutive searches
// (what consecutive EPSV replies announce) does not follow a fixed
// pattern; over many searches consecutive ports differ by varying steps.
func TestPassivePortsUnpredictable(t *testing.T) {
	g := newPassivePorts(PortRange{First: 30000, Last: 30999})
	first := func() int {
		g.NumberAttempts()
		p, _, _ := g.FetchNext()
		return p
	}
	steps := map[int]bool{}
	prev := first()
	for range 200 {
		p := first()
		steps[(p-prev+1000)%1000] = true
		prev = p
	}
	if len(steps) < 100 {
		t.Errorf("only %d distinct steps between 200 consecutive searches", len(steps))
	}
}

func TestCoprimeStride(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 8, 12, 1000, 1001} {
		for range 50 {
			s := coprimeStride(n)
			if s < 1 || (n > 1 && s >= n) || gcd(s, n) != 1 {
				t.Fatalf("coprimeStride(%d) = %d", n, s)
			}
		}
	}
}

// TestEPSVFindsFreePorts: with every port of the range but two taken,
// each EPSV announces one of those two; the one before still holds its
// port until the new one is listening, so they alternate.
func TestEPSVFindsFreePorts(t *testing.T) {
	var r PortRange
	var held []net.Listener
	// Below Linux's ephemeral range (32768-60999): a connection anywhere
	// on the machine may take a port of that range as its local port at
	// any time, and one of the two left free would then be missing.
	for try := 0; try < 20 && held == nil; try++ {
		r.First = 20000 + rand.IntN(10000)
		r.Last = r.First + 7
		for p := r.First; p <= r.Last; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				for _, l := range held {
					l.Close()
				}
				held = nil
				break
			}
			held = append(held, ln)
		}
		if held != nil {
			// All eight were free: give the last two back.
			held[len(held)-1].Close()
			held[len(held)-2].Close()
			held = held[:len(held)-2]
		}
	}
	if held == nil {
		t.Skip("found no 6 free ports in a row to hold")
	}
	t.Cleanup(func() {
		for _, l := range held {
			l.Close()
		}
	})
	ts := newTestServer(t, Config{PassivePorts: r}, nil)
	c := ts.dial(t)
	c.login("anonymous", "x")
	prev := 0
	for range 20 {
		port := replyPort(229, c.cmd(229, "EPSV"))
		if port < r.Last-1 || port > r.Last || port == prev {
			t.Fatalf("EPSV announced %d after %d, want the free one of %d and %d", port, prev, r.Last-1, r.Last)
		}
		prev = port
	}
}

// BenchmarkEPSV is the cost of one EPSV (port choice, listen, reply) on a
// 1000-port range, as the bench's FTP rows configure it.
func BenchmarkEPSV(b *testing.B) {
	ts := newTestServer(b, Config{PassivePorts: PortRange{First: 43000, Last: 43999}}, nil)
	c := ts.dial(b)
	c.login("anonymous", "x")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.cmd(229, "EPSV")
	}
}

// BenchmarkSession is one short anonymous session as the bench's
// ftp-sessions row runs it with curl: login, PWD, EPSV, TYPE I, SIZE,
// RETR of a small file, QUIT.
func BenchmarkSession(b *testing.B) {
	ts := newTestServer(b, Config{PassivePorts: PortRange{First: 43000, Last: 43999}},
		map[string]string{"fw.bin": string(make([]byte, 64<<10))})
	b.ReportAllocs()
	for b.Loop() {
		c := ts.dial(b)
		c.login("anonymous", "ftp@example.com")
		c.cmd(257, "PWD")
		c.cmd(200, "TYPE I")
		c.cmd(213, "SIZE fw.bin")
		if got := c.retr("fw.bin"); len(got) != 64<<10 {
			b.Fatalf("RETR: %d bytes", len(got))
		}
		c.cmd(221, "QUIT")
		c.conn.Close()
	}
}
