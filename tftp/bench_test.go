package tftp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkRead fetches 4 MiB over loopback with the in-process windowed
// client (client_test.go): the server's cost per block, lock-step and
// windowed.
//
//	go test -run '^$' -bench Read -cpuprofile cpu.out ./tftp/
func BenchmarkRead(b *testing.B) {
	data := randBytes(4 << 20)
	ts := newTestServer(b, Config{}, map[string][]byte{"f": data})
	for _, blk := range []int{512, 1468, 8192} {
		for _, win := range []int{1, 16} {
			b.Run(fmt.Sprintf("blksize=%d/windowsize=%d", blk, win), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					c := &wclient{blksize: blk, window: win}
					got, err := c.get(ts.addr, "f")
					if err != nil || len(got) != len(data) {
						b.Fatalf("%d bytes, %v", len(got), err)
					}
				}
			})
		}
	}
}

// BenchmarkCurl fetches 30 MiB with curl, lock-step, as the issue's
// comparison with tftpd-hpa does; with -cpuprofile it shows the server's
// own share of the round trip.
func BenchmarkCurl(b *testing.B) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		b.Skip("curl not installed")
	}
	data := randBytes(30 << 20)
	ts := newTestServer(b, Config{}, map[string][]byte{"f": data})
	out := filepath.Join(b.TempDir(), "out")
	for _, blk := range []int{512, 1468, 8192} {
		b.Run(fmt.Sprintf("blksize=%d", blk), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if o, err := exec.Command(curl, "-sS", "--tftp-blksize", fmt.Sprint(blk), "-o", out, "tftp://"+ts.addr+"/f").CombinedOutput(); err != nil {
					b.Fatalf("curl: %v %s", err, o)
				}
			}
			if fi, err := os.Stat(out); err != nil || fi.Size() != int64(len(data)) {
				b.Fatalf("output %v %v", fi, err)
			}
		})
	}
}

// BenchmarkLossy measures recovery on a link that drops a share of the
// packets in each direction, through an in-process UDP relay, with curl
// (lock-step; like most real clients it re-acknowledges a duplicate DATA
// block, so the server's timer drives recovery; timeout 250ms here).
//
//	go test -run '^$' -bench Lossy -benchtime 3x ./tftp/
func BenchmarkLossy(b *testing.B) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		b.Skip("curl not installed")
	}
	data := randBytes(1 << 20)
	cfg := Config{Timeout: 250 * time.Millisecond, Retries: 10}
	ts := newTestServer(b, cfg, map[string][]byte{"f": data})
	for _, loss := range []float64{0, 0.01, 0.05} {
		b.Run(fmt.Sprintf("loss=%g", loss), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			out := filepath.Join(b.TempDir(), "out")
			for b.Loop() {
				relay := newLossyRelay(b, ts.addr, loss)
				o, err := exec.Command(curl, "-sS", "-m", "120", "--tftp-blksize", "1468", "-o", out,
					"tftp://"+relay.addr+"/f").CombinedOutput()
				relay.close()
				if err != nil {
					b.Fatalf("curl: %v %s", err, o)
				}
				if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
					b.Fatalf("content differs (%d bytes)", len(got))
				}
			}
		})
	}
}

// lossyRelay stands between one client and the server: the client sees
// the relay's port as the server (listen port and TID alike), the server
// sees one client port. Each datagram is dropped with probability loss.
type lossyRelay struct {
	addr      string
	front     *net.UDPConn // client side
	back      *net.UDPConn // server side
	wg        sync.WaitGroup
	mu        sync.Mutex
	client    *net.UDPAddr
	serverTID *net.UDPAddr
}

func newLossyRelay(tb testing.TB, server string, loss float64) *lossyRelay {
	tb.Helper()
	srv, _ := net.ResolveUDPAddr("udp", server)
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	front, err := net.ListenUDP("udp", lo)
	if err != nil {
		tb.Fatal(err)
	}
	back, err := net.ListenUDP("udp", lo)
	if err != nil {
		tb.Fatal(err)
	}
	r := &lossyRelay{addr: front.LocalAddr().String(), front: front, back: back}
	pump := func(from *net.UDPConn, to func() *net.UDPAddr, out *net.UDPConn, remember func(*net.UDPAddr)) {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, src, err := from.ReadFromUDP(buf)
			if err != nil {
				return
			}
			remember(src)
			if loss > 0 && rand.Float64() < loss {
				continue
			}
			out.WriteToUDP(buf[:n], to())
		}
	}
	r.wg.Add(2)
	go pump(front, func() *net.UDPAddr {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.serverTID != nil {
			return r.serverTID
		}
		return srv
	}, back, func(a *net.UDPAddr) { r.mu.Lock(); r.client = a; r.mu.Unlock() })
	go pump(back, func() *net.UDPAddr { r.mu.Lock(); defer r.mu.Unlock(); return r.client },
		front, func(a *net.UDPAddr) { r.mu.Lock(); r.serverTID = a; r.mu.Unlock() })
	return r
}

func (r *lossyRelay) close() {
	r.front.Close()
	r.back.Close()
	r.wg.Wait()
}
