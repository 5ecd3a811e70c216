package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// listenInNetns opens a UDP socket inside namespace ns; the socket stays
// there after this thread returns to the test's namespace.
func listenInNetns(t *testing.T, ns, addr string) net.PacketConn {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	conn, lerr := net.ListenPacket("udp4", addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		panic(err) // this thread is in the wrong namespace; do not reuse it
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	return conn
}

// relayClient runs DORA exchanges as a relay agent (giaddr = its address,
// replies to its port 67), like perfdhcp, and logs every ACK it receives.
type relayClient struct {
	conn    net.PacketConn
	server  *net.UDPAddr
	giaddr  net.IP
	mu      sync.Mutex
	waiters map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4
	acked   map[string]string // MAC -> IP, written only after the ACK arrived
}

func (c *relayClient) readLoop() {
	buf := make([]byte, 1500)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			continue
		}
		c.mu.Lock()
		ch := c.waiters[m.TransactionID]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
		}
	}
}

func (c *relayClient) exchange(m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	ch := make(chan *dhcpv4.DHCPv4, 1)
	c.mu.Lock()
	c.waiters[m.TransactionID] = ch
	c.mu.Unlock()
	defer func() { c.mu.Lock(); delete(c.waiters, m.TransactionID); c.mu.Unlock() }()
	if _, err := c.conn.WriteTo(m.ToBytes(), c.server); err != nil {
		return nil
	}
	select {
	case r := <-ch:
		return r
	case <-time.After(2 * time.Second):
		return nil
	}
}

func (c *relayClient) dora() {
	hw := make(net.HardwareAddr, 6)
	rand.Read(hw)
	hw[0] = 0x02
	d, _ := dhcpv4.NewDiscovery(hw, dhcpv4.WithRelay(c.giaddr))
	offer := c.exchange(d)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		return
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithRelay(c.giaddr))
	ack := c.exchange(req)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		return
	}
	c.mu.Lock()
	c.acked[hw.String()] = ack.YourIPAddr.String()
	c.mu.Unlock()
}

// TestDHCPKill9KeepsAckedLeases kills bootsrv with SIGKILL in the middle of
// DHCP load; every lease a client saw ACKed must be in the lease file.
func TestDHCPKill9KeepsAckedLeases(t *testing.T) {
	srv, cli := newNetns(t), newNetns(t)
	veth(t, srv, "s0", "10.80.0.1/16", cli, "c0", "10.80.0.2/16")
	leaseFile := filepath.Join(t.TempDir(), "leases.db")
	cfg := fmt.Sprintf(`
dhcp:
  mode: server
  interface: s0
  server_ip: 10.80.0.1
  lease_file: %s
  authoritative: true
  pools:
    - {subnet: 10.80.0.0/16, range: 10.80.1.0-10.80.250.250, lease_time: 1h}
`, leaseFile)
	p := startBootsrv(t, bootsrvOpts{Config: cfg, Netns: srv})
	c := &relayClient{conn: listenInNetns(t, cli, "10.80.0.2:67"), server: &net.UDPAddr{IP: net.IPv4(10, 80, 0, 1), Port: 67},
		giaddr: net.IPv4(10, 80, 0, 2), waiters: map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}, acked: map[string]string{}}
	defer c.conn.Close()
	go c.readLoop()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var rounds atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c.dora()
				rounds.Add(1)
			}
		}()
	}
	// Kill once a good number of leases is ACKed, with exchanges in flight.
	waitFor(t, 60*time.Second, "300 ACKs", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.acked) >= 300 })
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exit
	p.cmd.Process = nil // killed on purpose: skip the harness's exit-0 check
	cancel()
	wg.Wait()

	c.mu.Lock()
	acked := c.acked
	c.mu.Unlock()
	rows := readLeaseFile(t, leaseFile)
	onDisk := map[string]string{}
	for _, r := range rows {
		onDisk[r.MAC] = r.IP
	}
	missing := 0
	for mac, ip := range acked {
		if onDisk[mac] != ip {
			missing++
			if missing < 5 {
				t.Errorf("ACKed lease %s -> %s not in the lease file after kill -9 (have %q)", mac, ip, onDisk[mac])
			}
		}
	}
	t.Logf("%d ACKs seen by clients, %d leases on disk, %d missing", len(acked), len(rows), missing)
	// A restarted server loads them all.
	p2 := startBootsrv(t, bootsrvOpts{Config: cfg, Netns: srv})
	if want := fmt.Sprintf(`"leases":%d,`, len(rows)); !strings.Contains(p2.Logs(), want) {
		t.Errorf("restart did not load %d leases:\n%s", len(rows), p2.Logs())
	}
}
