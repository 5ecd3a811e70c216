package tftp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
)

// BenchmarkRead fetches 4 MiB over loopback with pin/tftp's client.
func BenchmarkRead(b *testing.B) {
	data := randBytes(4 << 20)
	for _, anticipate := range []int{0, 8} {
		ts := newTestServer(b, Config{Anticipate: anticipate}, map[string][]byte{"f": data})
		for _, blk := range []int{1468, 8192} {
			b.Run(fmt.Sprintf("blksize=%d/anticipate=%d", blk, anticipate), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					got, _, err := get(ts.addr, "f", "octet", blk, false)
					if err != nil || len(got) != len(data) {
						b.Fatalf("%d bytes, %v", len(got), err)
					}
				}
			})
		}
	}
}

// BenchmarkLossy measures anticipate (pin/tftp's send-ahead window) on a
// link that drops a share of the packets in each direction, through an
// in-process UDP relay. Server timeout 250ms, client timeout 1s, so the
// server's retransmissions drive recovery as they would with a PXE ROM.
//
//	go test -run '^$' -bench Lossy -benchtime 3x ./tftp/
func BenchmarkLossy(b *testing.B) {
	data := randBytes(1 << 20)
	for _, loss := range []float64{0, 0.01, 0.05} {
		for _, anticipate := range []int{0, 4, 16} {
			cfg := Config{Anticipate: anticipate, Timeout: 250 * time.Millisecond, Retries: 10}
			ts := newTestServer(b, cfg, map[string][]byte{"f": data})
			b.Run(fmt.Sprintf("loss=%g/anticipate=%d", loss, anticipate), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					relay := newLossyRelay(b, ts.addr, loss)
					c, _ := tftp.NewClient(relay.addr)
					c.SetTimeout(time.Second)
					c.SetRetries(20)
					c.SetBlockSize(1468)
					wt, err := c.Receive("f", "octet")
					if err != nil {
						b.Fatal(err)
					}
					var buf bytes.Buffer
					if _, err := wt.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
						b.Fatalf("%d bytes, %v", buf.Len(), err)
					}
					relay.close()
				}
			})
		}
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
