package timeline

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// clock is a settable clock; tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func hw(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// testMAC is the i-th machine's MAC.
func testMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

type testRecorder struct {
	*Recorder
	clock *clock
	reg   *prometheus.Registry
}

func newTestRecorder(t testing.TB, cfg Config) *testRecorder {
	t.Helper()
	c := newClock()
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	reg := prometheus.NewRegistry()
	r, err := New(cfg, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return &testRecorder{Recorder: r, clock: c, reg: reg}
}

func (tr *testRecorder) mustMachine(t *testing.T, mac string) Machine {
	t.Helper()
	m, ok := tr.Machine(hw(mac))
	if !ok {
		t.Fatalf("no timeline for %s", mac)
	}
	return m
}

// TestLastStep: the summary's last step and result in words, per kind of
// event, and the machine facts taken from earlier events.
func TestLastStep(t *testing.T) {
	const mac = "52:54:00:12:34:56"
	tests := map[string]struct {
		e    event.Event
		want string
		res  event.Result
	}{
		"dhcp in":         {event.Event{Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.Discover}, "dhcp discover", 0},
		"dhcp ack":        {event.Event{Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack, Result: event.OK}, "dhcp ack", event.OK},
		"tftp ok":         {event.Event{Service: event.TFTP, Kind: event.Transfer, Result: event.OK, File: "pxelinux.0"}, "tftp pxelinux.0 ok", event.OK},
		"http error":      {event.Event{Service: event.HTTP, Kind: event.Transfer, Result: event.Failed, File: "vmlinuz", Detail: "not found"}, "http vmlinuz error: not found", event.Failed},
		"ftp login":       {event.Event{Service: event.FTP, Kind: event.Login, Result: event.Failed, Detail: "netops"}, "ftp login netops error", event.Failed},
		"tftp refusal":    {event.Event{Service: event.TFTP, Kind: event.Refusal, File: "x", Detail: "access violation"}, "tftp refused x: access violation", 0},
		"dhcp refusal":    {event.Event{Service: event.DHCP, Kind: event.Refusal, Detail: "unknown client"}, "dhcp refused: unknown client", 0},
		"render":          {event.Event{Service: event.Script, Kind: event.Render, Result: event.OK, File: "boot.ipxe"}, "script render boot.ipxe ok", event.OK},
		"upload":          {event.Event{Service: event.FTP, Kind: event.Upload, Result: event.OK, File: "incoming/r1.cfg"}, "ftp upload incoming/r1.cfg ok", event.OK},
		"dhcp no msgtype": {event.Event{Service: event.DHCP, Kind: event.DHCPOut}, "dhcp dhcp_out", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newTestRecorder(t, Config{})
			r.Record(event.Event{MAC: hw(mac), IP: ip("10.0.0.50"), Service: event.DHCP, Kind: event.DHCPIn,
				MsgType: event.Request, Arch: "efi64", VendorClass: "PXEClient:Arch:00007", UserClass: "iPXE", Hostname: "node1"})
			r.clock.Advance(time.Second)
			tc.e.MAC = hw(mac)
			r.Record(tc.e)
			s := r.mustMachine(t, mac).Summary
			if s.LastStep != tc.want || s.LastResult != tc.res {
				t.Errorf("last step = %q %v, want %q %v", s.LastStep, s.LastResult, tc.want, tc.res)
			}
			if s.IP != "10.0.0.50" || s.Hostname != "node1" || s.Arch != "efi64" || s.UserClass != "iPXE" ||
				s.VendorClass != "PXEClient:Arch:00007" || s.Events != 2 || s.EventsTotal != 2 {
				t.Errorf("summary = %+v", s)
			}
			if !s.LastSeen.Equal(r.clock.Now()) || !s.FirstSeen.Equal(r.clock.Now().Add(-time.Second)) {
				t.Errorf("first/last seen = %v/%v", s.FirstSeen, s.LastSeen)
			}
		})
	}
}

// TestEventsAreCopied: the recorder keeps what it was given, not the
// caller's MAC slice, and shows every field back.
func TestEventsAreCopied(t *testing.T) {
	r := newTestRecorder(t, Config{})
	mac := hw("52:54:00:00:00:01")
	at := r.clock.Now().Add(-time.Minute)
	r.Record(event.Event{Time: at, MAC: mac, IP: ip("::ffff:10.0.0.9"), Service: event.TFTP, Kind: event.Transfer,
		Result: event.OK, File: "snponly.efi", Bytes: 1234, Duration: 1500 * time.Millisecond, Rule: "dhcp.hosts[0]",
		Arch: "efi64", Detail: "blksize 1468"})
	mac[5] = 0xff // the caller reuses its buffer
	m := r.mustMachine(t, "52:54:00:00:00:01")
	want := Entry{Time: at, IP: "10.0.0.9", Service: event.TFTP, Kind: event.Transfer, Result: event.OK,
		Arch: "efi64", File: "snponly.efi", Bytes: 1234, DurationSeconds: 1.5, Detail: "blksize 1468", Rule: "dhcp.hosts[0]"}
	if len(m.Events) != 1 || !m.Events[0].Time.Equal(want.Time) {
		t.Fatalf("events = %+v", m.Events)
	}
	m.Events[0].Time = want.Time
	if m.Events[0] != want {
		t.Errorf("entry = %+v\nwant    %+v", m.Events[0], want)
	}
	if _, ok := r.Machine(hw("52:54:00:00:00:ff")); ok {
		t.Error("the caller's later change of its MAC buffer reached the recorder")
	}
	r.Record(event.Event{Service: event.TFTP, Kind: event.Transfer}) // neither MAC nor IP: dropped
	if l := r.Machines("", 0, 10); l.Total != 1 {
		t.Errorf("an event with neither MAC nor IP was kept: %+v", l)
	}
}

// TestLRUEviction: past Machines, the machine seen least recently goes;
// recording for a machine makes it recent again.
func TestLRUEviction(t *testing.T) {
	r := newTestRecorder(t, Config{Machines: 3})
	rec := func(i int) {
		r.clock.Advance(time.Second)
		r.Record(event.Event{MAC: testMAC(i), IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Service: event.DHCP, Kind: event.DHCPIn})
	}
	for i := 1; i <= 3; i++ {
		rec(i)
	}
	rec(1) // 1 is now the most recent; 2 the least
	rec(4)
	wantKept := map[int]bool{1: true, 2: false, 3: true, 4: true}
	for i, want := range wantKept {
		if _, ok := r.Machine(testMAC(i)); ok != want {
			t.Errorf("machine %d kept = %v, want %v", i, ok, want)
		}
	}
	if _, ok := r.MachineByIP(ip("10.0.0.2")); ok {
		t.Error("the evicted machine is still found by its IP")
	}
	l := r.Machines("", 0, 10)
	var order []string
	for _, s := range l.Machines {
		order = append(order, s.IP)
	}
	if fmt.Sprint(order) != "[10.0.0.4 10.0.0.1 10.0.0.3]" || l.Total != 3 {
		t.Errorf("list = %v (total %d), want most recent first", order, l.Total)
	}
	rec(5)
	rec(6)
	if m, ok := r.Machine(testMAC(6)); !ok || m.Summary.Events != 1 || m.Summary.EventsTotal != 1 {
		t.Errorf("a reused slot carries over the evicted machine's events: %+v", m.Summary)
	}
}

// TestRingWrap: a machine keeps its last EventsPerMachine events, in
// order, and counts every one.
func TestRingWrap(t *testing.T) {
	for _, n := range []int{1, 5, 8, 9, 20, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := newTestRecorder(t, Config{EventsPerMachine: 8})
			for i := range n {
				r.clock.Advance(time.Second)
				r.Record(event.Event{MAC: testMAC(1), Service: event.TFTP, Kind: event.Transfer, File: fmt.Sprint(i)})
			}
			m, _ := r.Machine(testMAC(1))
			kept := min(n, 8)
			if len(m.Events) != kept || m.Summary.Events != kept || m.Summary.EventsTotal != uint64(n) {
				t.Fatalf("kept %d (summary %d/%d), want %d of %d", len(m.Events), m.Summary.Events, m.Summary.EventsTotal, kept, n)
			}
			for i, e := range m.Events {
				if want := fmt.Sprint(n - kept + i); e.File != want {
					t.Errorf("event %d is %s, want %s", i, e.File, want)
				}
			}
		})
	}
}

// TestConcurrentRecord: many goroutines recording for overlapping
// machines, by MAC and by IP, while others read; every event is counted
// once (run with -race).
func TestConcurrentRecord(t *testing.T) {
	const (
		goroutines = 50
		perG       = 200
		machines   = 40
	)
	resolve := func(a netip.Addr) (net.HardwareAddr, bool) {
		b := a.As4()
		return testMAC(int(b[3])), b[3] < machines
	}
	r := newTestRecorder(t, Config{Resolve: resolve})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				n := (g + i) % machines
				e := event.Event{Service: event.TFTP, Kind: event.Transfer, Result: event.OK, File: "pxelinux.0"}
				if i%2 == 0 {
					e.MAC = testMAC(n)
				} else {
					e.IP = netip.AddrFrom4([4]byte{10, 0, 0, byte(n)})
				}
				r.Record(e)
				if i%50 == 0 {
					r.Machines("52:54", 0, 10)
					r.Machine(testMAC(n))
				}
			}
		}()
	}
	wg.Wait()
	var total uint64
	for _, s := range r.Machines("", 0, 1000).Machines {
		total += s.EventsTotal
		if s.Unresolved {
			t.Errorf("unresolved entry %+v although every IP resolves", s)
		}
	}
	if total != goroutines*perG {
		t.Errorf("recorded %d events, want %d", total, goroutines*perG)
	}
}
