package dhcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// serverOffer is an OFFER as another server would send it.
func serverOffer(t testing.TB, sid string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	d := discover("52:54:00:dd:00:01")
	mods = append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer), dhcpv4.WithYourIP(net.IPv4(192, 168, 1, 50))}, mods...)
	if sid != "" {
		mods = append(mods, dhcpv4.WithServerIP(net.ParseIP(sid)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(sid))))
	}
	o, err := dhcpv4.NewReplyFromRequest(d, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestServerReply(t *testing.T) {
	from := &net.UDPAddr{IP: net.IPv4(192, 168, 1, 1), Port: 67}
	tests := map[string]struct {
		b    []byte
		want string // server id, "" when not a server reply
	}{
		"offer":            {b: serverOffer(t, "192.168.1.1").ToBytes(), want: "192.168.1.1"},
		"ack":              {b: serverOffer(t, "192.168.1.2", dhcpv4.WithMessageType(dhcpv4.MessageTypeAck)).ToBytes(), want: "192.168.1.2"},
		"no option 54":     {b: serverOffer(t, "").ToBytes(), want: "192.168.1.1"},
		"a client request": {b: discover("52:54:00:dd:00:02").ToBytes()},
		"garbage":          {b: []byte("not dhcp")},
		"empty":            {b: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, sid, ok := serverReply(tc.b, from)
			got := ""
			if ok {
				got = sid.String()
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRogueDetectorWindow(t *testing.T) {
	d, err := newRogueDetector(netip.MustParseAddr("10.0.0.1"), RogueDetection{Window: time.Minute, KnownServers: []string{"10.0.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		sid     string
		at      time.Duration
		wantLog bool
		active  int
	}{
		{"10.0.0.1", 0, false, 0}, // ourselves
		{"10.0.0.2", 0, false, 0}, // a known server
		{"10.0.0.66", 0, true, 1}, // first sighting: logged
		{"10.0.0.66", 30 * time.Second, false, 1},
		{"10.0.0.67", 40 * time.Second, true, 2},
		{"10.0.0.66", 91 * time.Second, true, 2},  // a window after the last log
		{"10.0.0.67", 150 * time.Second, true, 2}, // .66 last seen at 91s: still within
	}
	for i, s := range steps {
		if got := d.observe(netip.MustParseAddr(s.sid), "listener", t0.Add(s.at)); got != s.wantLog {
			t.Fatalf("step %d: log %v", i, got)
		}
		if n := d.active(t0.Add(s.at)); n != s.active {
			t.Fatalf("step %d: active %d, want %d", i, n, s.active)
		}
	}
	if n := d.active(t0.Add(10 * time.Minute)); n != 0 {
		t.Fatalf("active after the window: %d", n)
	}
	if v := testutil.ToFloat64(d.count.WithLabelValues("listener")); v != 5 {
		t.Fatalf("counted %v", v)
	}
	// Forged server ids cannot grow the table.
	for i := range 5000 {
		d.observe(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), "listener", t0.Add(20*time.Minute))
	}
	if n := d.active(t0.Add(20 * time.Minute)); n != maxForeignServers {
		t.Fatalf("table holds %d", n)
	}
}

func TestRequestNamingOtherServer(t *testing.T) {
	ts := newTestServer(t, testConfig(t))
	for range 3 {
		req := requestFor(serverOffer(t, "10.0.0.77"))
		if r, _ := ts.exchange(req); r != nil {
			t.Fatalf("answered a request for another server: %v", r)
		}
	}
	if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("other_server")); v != 3 {
		t.Fatalf("other_server drops %v", v)
	}
	if v := testutil.ToFloat64(ts.safety.rogue.count.WithLabelValues("request")); v != 3 {
		t.Fatalf("other_server_offers_total{source=request} %v", v)
	}
	if n := ts.safety.rogue.active(ts.clock); n != 1 {
		t.Fatalf("other_servers %d", n)
	}
}

// logWatch is a zerolog writer that signals when a line contains want.
type logWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	hit  chan struct{}
	once sync.Once
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.hit) })
	}
	return len(p), nil
}

// TestWatchAndProbe runs the client-port listener and the probe over
// loopback against a fake rogue server that answers DISCOVERs.
func TestWatchAndProbe(t *testing.T) {
	cfg := testConfig(t)
	cfg.RogueDetection.ProbeInterval = time.Hour // one probe, at start
	lw := &logWatch{want: `"source":"probe"`, hit: make(chan struct{})}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, nil, zerolog.New(lw), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	watch, err := ListenClientPort(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	rogue, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	s.safety.probeDst = rogue.LocalAddr().(*net.UDPAddr)
	watchAddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: watch.LocalAddr().(*net.UDPAddr).Port}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.WatchOtherServers(ctx, watch) }()

	// The probe arrives at the rogue server: a DISCOVER with the broadcast
	// flag from a locally administered MAC.
	buf := make([]byte, 1500)
	rogue.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := rogue.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := dhcpv4.FromBytes(buf[:n])
	if err != nil || probe.MessageType() != dhcpv4.MessageTypeDiscover || !probe.IsBroadcast() || probe.ClientHWAddr[0]&2 == 0 {
		t.Fatalf("probe %v %v", probe, err)
	}
	// Our own server ignores the probe it hears.
	rc := &recordConn{}
	s.handlePacket(rc, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 68}, buf[:n])
	if len(rc.sent) != 0 || testutil.ToFloat64(s.m.drops.WithLabelValues("own_probe")) != 1 {
		t.Fatalf("own probe answered: %v", rc.sent)
	}
	// Our own offers, seen on the client port, are not reported; the rogue's
	// unsolicited offer and its answer to the probe are.
	ours := serverOffer(t, "10.0.0.1")
	answer, _ := dhcpv4.NewReplyFromRequest(probe, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 67))))
	for _, m := range []*dhcpv4.DHCPv4{ours, serverOffer(t, "10.0.0.66"), answer} {
		if _, err := rogue.WriteTo(m.ToBytes(), watchAddr); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-lw.hit:
	case <-time.After(10 * time.Second):
		t.Fatalf("no probe report:\n%s", lw.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l, p := testutil.ToFloat64(s.safety.rogue.count.WithLabelValues("listener")), testutil.ToFloat64(s.safety.rogue.count.WithLabelValues("probe")); l != 1 || p != 1 {
		t.Fatalf("listener %v probe %v", l, p)
	}
	if got := gathered(t, reg, "bootsrv_dhcp_other_servers", ""); got != 2 {
		t.Fatalf("other_servers %v", got)
	}
	logs := lw.String()
	if !strings.Contains(logs, `"server_id":"10.0.0.66"`) || !strings.Contains(logs, `"server_id":"10.0.0.67"`) || strings.Contains(logs, `"server_id":"10.0.0.1"`) {
		t.Fatalf("logs:\n%s", logs)
	}
}

// gathered is the value of a gauge or counter series in reg, by name and
// the value of its one label ("" for none).
func gathered(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() != label {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

// FuzzOtherServer feeds arbitrary datagrams to the client-port listener's
// handler: it must never panic.
func FuzzOtherServer(f *testing.F) {
	f.Add(serverOffer(f, "10.0.0.66").ToBytes())
	f.Add(serverOffer(f, "").ToBytes())
	f.Add(discover("52:54:00:dd:00:03").ToBytes())
	f.Add([]byte{})
	ts := newTestServer(f, testConfig(f))
	from := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 66), Port: 67}
	f.Fuzz(func(t *testing.T, b []byte) {
		ts.clientPortPacket(b, from)
		if _, sid, ok := serverReply(b, from); ok && !sid.IsValid() {
			t.Fatalf("invalid server id accepted from %x", b)
		}
	})
}

// TestClientPortShared: the listener shares its port with a DHCP client
// that binds it with SO_REUSEADDR (as udhcpc does) and with a second
// listener.
func TestClientPortShared(t *testing.T) {
	ctx := context.Background()
	first, err := ListenClientPort(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	port := first.LocalAddr().(*net.UDPAddr).Port
	second, err := ListenClientPort(ctx, "", port)
	if err != nil {
		t.Fatalf("second listener on %d: %v", port, err)
	}
	defer second.Close()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) })
		return errors.Join(err, serr)
	}}
	client, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Fatalf("a SO_REUSEADDR client on %d: %v", port, err)
	}
	client.Close()
}
