package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/console"
	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Scale of the console's load test: what a large lab holds.
const (
	loadMachines = 10000
	loadLeases   = 50000
)

// newLoadedConsole is the console over a real timeline of loadMachines
// machines (each booted: DHCP, a TFTP loader, a script, an HTTP kernel;
// one in a hundred in a boot loop) and the lease adapter over
// loadLeases leases, which copies and sorts them per snapshot as the DHCP
// server's Leases does.
func newLoadedConsole(tb testing.TB) (http.Handler, *leasePages, string) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	now := time.Now().Add(-time.Hour)
	rec, err := timeline.New(timeline.Config{Machines: loadMachines, Now: func() time.Time { return now }}, zerolog.Nop(), reg)
	if err != nil {
		tb.Fatal(err)
	}
	var someMAC string
	for i := range loadMachines {
		mac := net.HardwareAddr{0x52, 0x54, 0x00, byte(i >> 16), byte(i >> 8), byte(i)}
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		now = now.Add(time.Millisecond)
		evs := []event.Event{
			{Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.Discover, MAC: mac, Arch: "efi64", Hostname: fmt.Sprintf("node%05d", i)},
			{Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack, MAC: mac, IP: ip, File: "snponly.efi", Rule: "dhcp.boot.efi64"},
			{Service: event.TFTP, Kind: event.Transfer, Result: event.OK, IP: ip, File: "snponly.efi", Bytes: 190000, Duration: 300 * time.Millisecond},
			{Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack, MAC: mac, IP: ip, File: "boot.ipxe", Rule: "dhcp.boot.ipxe"},
			{Service: event.Script, Kind: event.Render, Result: event.OK, IP: ip, File: "boot.ipxe"},
			{Service: event.HTTP, Kind: event.Transfer, Result: event.OK, IP: ip, File: "vmlinuz", Bytes: 12 << 20, Duration: 2 * time.Second},
		}
		if i%100 == 0 {
			for range 3 {
				evs = append(evs, evs[1], evs[2])
			}
		}
		for _, e := range evs {
			e.Time = now
			rec.Record(e)
		}
		someMAC = mac.String()
	}
	leases := make([]dhcp.Lease, loadLeases)
	for i := range leases {
		leases[i] = dhcp.Lease{IP: netip.AddrFrom4([4]byte{10, 100 + byte(i>>16), byte(i >> 8), byte(i)}),
			MAC: net.HardwareAddr{0x52, 0x54, 0x01, byte(i >> 16), byte(i >> 8), byte(i)}.String(), Hostname: fmt.Sprintf("host%05d", i),
			Expiry: time.Now().Add(time.Duration(i%7200) * time.Second)}
	}
	rand.Shuffle(len(leases), func(i, j int) { leases[i], leases[j] = leases[j], leases[i] })
	lp := newLeasePages(func() []dhcp.Lease {
		out := slices.Clone(leases)
		sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
		return out
	})
	transfers := inflight.New(0, 0)
	for i := range 20 {
		transfers.Start(inflight.Info{Service: "tftp", File: "snponly.efi", Peer: fmt.Sprintf("10.0.0.%d:2000", i), Size: 190000}).Add(int64(i * 9000))
	}
	st := &consoleStatus{started: time.Now(), services: []console.Service{{Name: "tftp", Addr: "0.0.0.0:69"}, {Name: "dhcp", Addr: "0.0.0.0:67"}},
		transfers: transfers, rl: &reloader{}, gather: reg}
	c, err := console.New(console.Config{Root: true}, console.Sources{
		Status: func() console.Status {
			s := console.Status{Started: st.started, Services: st.services, Transfers: transfers.Running(), Counters: counters(reg)}
			return s
		},
		Machines: rec, Leases: lp,
	})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range c.Handlers() {
		mux.Handle(p, h)
	}
	return mux, lp, someMAC
}

// loadPages are the pages measured, by name.
func loadPages(mac string) [][2]string {
	return [][2]string{
		{"overview", "/console/"},
		{"overview live part", "/console/live"},
		{"machines, page 1", "/console/machines"},
		{"machines, last page", fmt.Sprintf("/console/machines?page=%d", loadMachines/console.DefaultPageSize)},
		{"machines, search (all read)", "/console/machines?q=node0999"},
		{"machine timeline", "/console/machines/" + mac},
		{"leases, page 1", "/console/leases"},
		{"leases, last page", fmt.Sprintf("/console/leases?page=%d", loadLeases/console.DefaultPageSize)},
		{"leases, search", "/console/leases?q=host4999"},
	}
}

// TestConsoleLoad renders every list page at 10,000 machines and 50,000
// leases and reports the page weights and render times (it asserts none:
// the machine is shared). Render times are the median of 9, with the
// lease snapshot warm; the lease pages' first render, which copies and
// sorts the 50,000 leases, is reported apart.
func TestConsoleLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 10,000 machines and 50,000 leases")
	}
	h, lp, mac := newLoadedConsole(t)
	var report strings.Builder
	fmt.Fprintf(&report, "%d machines, %d leases\n%-30s %10s %12s\n", loadMachines, loadLeases, "page", "bytes", "render")
	for _, pg := range loadPages(mac) {
		var times []time.Duration
		size := 0
		for i := range 9 {
			if i == 0 && strings.HasPrefix(pg[1], "/console/leases") {
				lp.mu.Lock()
				lp.rows = nil // a cold snapshot first
				lp.mu.Unlock()
			}
			w := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(w, httptest.NewRequest("GET", pg[1], nil))
			d := time.Since(start)
			if w.Code != 200 {
				t.Fatalf("%s: %d %s", pg[1], w.Code, w.Body.String())
			}
			size = w.Body.Len()
			if i == 0 && strings.HasPrefix(pg[1], "/console/leases") {
				fmt.Fprintf(&report, "%-30s %10d %12s\n", pg[0]+" (cold)", size, d.Round(10*time.Microsecond))
				continue
			}
			times = append(times, d)
		}
		slices.Sort(times)
		fmt.Fprintf(&report, "%-30s %10d %12s\n", pg[0], size, times[len(times)/2].Round(10*time.Microsecond))
	}
	t.Log("\n" + report.String())
}

// BenchmarkConsole renders each page at the load test's scale.
func BenchmarkConsole(b *testing.B) {
	h, _, mac := newLoadedConsole(b)
	for _, pg := range loadPages(mac) {
		b.Run(strings.ReplaceAll(pg[0], " ", "_"), func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", pg[1], nil))
				b.SetBytes(int64(w.Body.Len()))
			}
		})
	}
}
