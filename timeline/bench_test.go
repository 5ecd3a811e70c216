package timeline

import (
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// dhcpEvent and tftpEvent are what the services will record most.
func dhcpEvent(mac net.HardwareAddr, a netip.Addr) event.Event {
	return event.Event{MAC: mac, IP: a, Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack, Result: event.OK,
		Arch: "efi64", VendorClass: "PXEClient:Arch:00007:UNDI:003016", Hostname: "node1", File: "snponly.efi",
		Rule: "dhcp.boot.efi64"}
}

func tftpEvent(a netip.Addr) event.Event {
	return event.Event{IP: a, Service: event.TFTP, Kind: event.Transfer, Result: event.OK, File: "snponly.efi",
		Bytes: 1 << 20, Duration: 300 * time.Millisecond}
}

// BenchmarkRecord: one machine whose ring is full, the steady state.
func BenchmarkRecord(b *testing.B) {
	r := newTestRecorder(b, Config{LoopFetches: -1})
	e := dhcpEvent(testMAC(1), ip("10.0.0.1"))
	e.Time = r.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		r.Record(e)
	}
}

// BenchmarkRecordIPOnly: a TFTP transfer resolved to its MAC through the
// resolver, with loop detection on.
func BenchmarkRecordIPOnly(b *testing.B) {
	mac := testMAC(1)
	r := newTestRecorder(b, Config{Resolve: func(netip.Addr) (net.HardwareAddr, bool) { return mac, true }})
	r.Record(dhcpEvent(mac, ip("10.0.0.1")))
	e := tftpEvent(ip("10.0.0.1"))
	b.ReportAllocs()
	for b.Loop() {
		r.Record(e)
	}
}

// BenchmarkRecordParallel: a TFTP storm, 500 machines recorded from every
// core at once.
func BenchmarkRecordParallel(b *testing.B) {
	const machines = 500
	macs := make([]net.HardwareAddr, machines)
	for i := range macs {
		macs[i] = testMAC(i)
	}
	resolve := func(a netip.Addr) (net.HardwareAddr, bool) {
		i := int(a.As4()[2])<<8 | int(a.As4()[3])
		return macs[i%machines], true
	}
	r := newTestRecorder(b, Config{Resolve: resolve})
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(64) // many more goroutines than cores, as in a storm
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1))
		for pb.Next() {
			i++
			a := netip.AddrFrom4([4]byte{10, 0, byte(i % machines >> 8), byte(i % machines)})
			if i%4 == 0 {
				r.Record(dhcpEvent(macs[i%machines], a))
			} else {
				r.Record(tftpEvent(a))
			}
		}
	})
}

// BenchmarkRecordNewMachines: every event is a machine not seen before, so
// every one evicts the least recent (the worst case: a scan of MACs).
func BenchmarkRecordNewMachines(b *testing.B) {
	r := newTestRecorder(b, Config{Machines: 1000})
	macs := make([]net.HardwareAddr, 4096)
	for i := range macs {
		macs[i] = testMAC(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		r.Record(event.Event{MAC: macs[i%len(macs)], Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.Discover})
	}
}

// fillFull records events for machines × perMachine, the way the
// services would: DHCP with the machine's classes, TFTP and HTTP
// transfers whose names come fresh from each packet, some errors.
func fillFull(tb testing.TB, machines, perMachine int) *testRecorder {
	r := newTestRecorder(tb, Config{Machines: machines, EventsPerMachine: perMachine})
	for i := range machines {
		mac := testMAC(i)
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		host := "node-" + strconv.Itoa(i)
		for j := range perMachine {
			var e event.Event
			switch j % 4 {
			case 0:
				e = event.Event{MAC: mac, IP: a, Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.Request,
					Arch: "efi64", VendorClass: "PXEClient:Arch:00007:UNDI:" + strconv.Itoa(3016), Hostname: host}
			case 1:
				e = dhcpEvent(mac, a)
				e.Hostname = host
			case 2:
				e = tftpEvent(a)
				e.MAC = mac
				e.File = "images/ubuntu-24.04/" + strconv.Itoa(j) // a fresh string, as parsed from a packet
			case 3:
				e = event.Event{MAC: mac, IP: a, Service: event.HTTP, Kind: event.Transfer, Result: event.Failed,
					File: "vmlinuz", Detail: "open vmlinuz: " + "file does not exist"}
			}
			r.Record(e)
		}
	}
	return r
}

// heapGrowth is how much the live heap grows while f runs and what it
// returns stays reachable.
func heapGrowth(f func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// TestMemoryFull: a recorder full to the defaults, 10,000 machines × 64
// events, stays far below a generous bound (the measured figure is in
// the package doc).
func TestMemoryFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 640,000 events")
	}
	const machines, events = DefaultMachines, DefaultEventsPerMachine
	n := heapGrowth(func() any { return fillFull(t, machines, events) })
	t.Logf("%d machines × %d events: %.1f MiB, %d bytes a machine, %d an event",
		machines, events, float64(n)/(1<<20), n/machines, n/(machines*events))
	if n > 256<<20 {
		t.Errorf("%d MiB for %d machines × %d events, want under 256 MiB", n>>20, machines, events)
	}
}

// BenchmarkMemoryFull reports the heap of a recorder full to the defaults.
func BenchmarkMemoryFull(b *testing.B) {
	var n uint64
	for b.Loop() {
		n = heapGrowth(func() any { return fillFull(b, DefaultMachines, DefaultEventsPerMachine) })
	}
	b.ReportMetric(float64(n)/(1<<20), "MiB-full")
	b.ReportMetric(float64(n)/DefaultMachines, "B/machine")
}
