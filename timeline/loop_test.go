package timeline

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/timeline/event"
)

const loopMAC = "52:54:00:aa:bb:cc"

// step is one thing a looping (or not) machine does, after waiting.
type step struct {
	wait time.Duration
	e    event.Event
}

func offer(file string) step {
	return step{e: event.Event{MAC: hw(loopMAC), Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack,
		Result: event.OK, File: file, IP: ip("10.0.0.5")}}
}

func fetch(wait time.Duration, svc event.Service, file string, res event.Result) step {
	return step{wait: wait, e: event.Event{MAC: hw(loopMAC), Service: svc, Kind: event.Transfer, Result: res, File: file}}
}

// TestBootLoop: a machine that completes fetching the loader its DHCP
// reply named loop_fetches times within loop_window is warned about once
// per window, counted and flagged.
func TestBootLoop(t *testing.T) {
	minute := time.Minute
	tftpOK := func(wait time.Duration, file string) step { return fetch(wait, event.TFTP, file, event.OK) }
	tests := map[string]struct {
		cfg   Config
		steps []step
		loops int // warnings and counter
		flag  bool
	}{
		"three fetches in the window": {
			steps: []step{offer("pxelinux.0"), tftpOK(minute, "pxelinux.0"), offer("pxelinux.0"), tftpOK(minute, "/pxelinux.0"),
				offer("pxelinux.0"), tftpOK(minute, "pxelinux.0")},
			loops: 1, flag: true,
		},
		"two fetches": {
			steps: []step{offer("pxelinux.0"), tftpOK(minute, "pxelinux.0"), tftpOK(minute, "pxelinux.0")},
		},
		"spread over more than the window": {
			steps: []step{offer("pxelinux.0"), tftpOK(0, "pxelinux.0"), tftpOK(6*minute, "pxelinux.0"), tftpOK(6*minute, "pxelinux.0")},
		},
		"failed fetches do not count": {
			steps: []step{offer("pxelinux.0"), fetch(minute, event.TFTP, "pxelinux.0", event.Failed),
				fetch(minute, event.TFTP, "pxelinux.0", event.Failed), fetch(minute, event.TFTP, "pxelinux.0", event.Failed)},
		},
		"other files do not count": {
			steps: []step{offer("pxelinux.0"), tftpOK(minute, "vmlinuz"), tftpOK(minute, "vmlinuz"), tftpOK(minute, "vmlinuz")},
		},
		"ftp does not count": {
			steps: []step{offer("pxelinux.0"), fetch(minute, event.FTP, "pxelinux.0", event.OK),
				fetch(minute, event.FTP, "pxelinux.0", event.OK), fetch(minute, event.FTP, "pxelinux.0", event.OK)},
		},
		"once per window": {
			steps: []step{offer("undionly.kpxe"), tftpOK(minute, "undionly.kpxe"), tftpOK(minute, "undionly.kpxe"),
				tftpOK(minute, "undionly.kpxe"), tftpOK(minute, "undionly.kpxe"), tftpOK(minute, "undionly.kpxe"),
				tftpOK(minute, "undionly.kpxe"), tftpOK(minute, "undionly.kpxe")},
			loops: 1, flag: true,
		},
		"again after the window": {
			steps: []step{offer("undionly.kpxe"), tftpOK(minute, "undionly.kpxe"), tftpOK(minute, "undionly.kpxe"),
				tftpOK(minute, "undionly.kpxe"), tftpOK(5*minute, "undionly.kpxe"), tftpOK(5*minute, "undionly.kpxe"),
				tftpOK(minute, "undionly.kpxe")},
			loops: 2, flag: true,
		},
		"chainload between two loaders": {
			steps: []step{
				offer("undionly.kpxe"), tftpOK(minute, "undionly.kpxe"), offer("boot.ipxe"), tftpOK(0, "boot.ipxe"),
				offer("undionly.kpxe"), tftpOK(minute, "undionly.kpxe"), offer("boot.ipxe"), tftpOK(0, "boot.ipxe"),
				offer("undionly.kpxe"), tftpOK(minute, "undionly.kpxe"),
			},
			loops: 1, flag: true,
		},
		"uefi http boot by url": {
			steps: []step{offer("http://10.0.0.1:8080/images/efi/ipxe.efi?x=1"), fetch(minute, event.HTTP, "efi/ipxe.efi", event.OK),
				fetch(minute, event.HTTP, "efi/ipxe.efi", event.OK), fetch(minute, event.HTTP, "/images/efi/ipxe.efi", event.OK)},
			loops: 1, flag: true,
		},
		"similar name is not the loader": {
			steps: []step{offer("ipxe.efi"), tftpOK(minute, "myipxe.efi"), tftpOK(minute, "myipxe.efi"), tftpOK(minute, "myipxe.efi")},
		},
		"flag expires after the window": {
			steps: []step{offer("pxelinux.0"), tftpOK(minute, "pxelinux.0"), tftpOK(minute, "pxelinux.0"), tftpOK(minute, "pxelinux.0"),
				{wait: 10 * minute, e: event.Event{MAC: hw(loopMAC), Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.Discover}}},
			loops: 1, flag: false,
		},
		"five fetches configured": {
			cfg:   Config{LoopFetches: 5, LoopWindow: 30 * time.Minute},
			steps: []step{offer("a.efi"), tftpOK(5*minute, "a.efi"), tftpOK(5*minute, "a.efi"), tftpOK(5*minute, "a.efi"), tftpOK(5*minute, "a.efi")},
		},
		"five of five configured": {
			cfg: Config{LoopFetches: 5, LoopWindow: 30 * time.Minute},
			steps: []step{offer("a.efi"), tftpOK(5*minute, "a.efi"), tftpOK(5*minute, "a.efi"), tftpOK(5*minute, "a.efi"),
				tftpOK(5*minute, "a.efi"), tftpOK(5*minute, "a.efi")},
			loops: 1, flag: true,
		},
		"detection off": {
			cfg:   Config{LoopFetches: -1},
			steps: []step{offer("pxelinux.0"), tftpOK(minute, "pxelinux.0"), tftpOK(minute, "pxelinux.0"), tftpOK(minute, "pxelinux.0")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			c := newClock()
			cfg := tc.cfg
			cfg.Now = c.Now
			reg := prometheus.NewRegistry()
			r, err := New(cfg, zerolog.New(&logs), reg)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				c.Advance(s.wait)
				r.Record(s.e)
			}
			if n := strings.Count(logs.String(), `"level":"warn"`); n != tc.loops {
				t.Errorf("%d warnings, want %d:\n%s", n, tc.loops, logs.String())
			}
			if got := testutil.ToFloat64(r.loops); got != float64(tc.loops) {
				t.Errorf("bootsrv_boot_loops_total = %v, want %d", got, tc.loops)
			}
			if n, err := testutil.GatherAndCount(reg, "bootsrv_boot_loops_total"); n != 1 || err != nil {
				t.Errorf("bootsrv_boot_loops_total registered %d times: %v", n, err)
			}
			m, _ := r.Machine(hw(loopMAC))
			if m.Summary.BootLoop != tc.flag {
				t.Errorf("summary boot_loop = %v, want %v", m.Summary.BootLoop, tc.flag)
			}
			if m.Summary.LastBootLoop.IsZero() != (tc.loops == 0) {
				t.Errorf("last_boot_loop = %v with %d loops", m.Summary.LastBootLoop, tc.loops)
			}
			marks := 0
			for _, e := range m.Events {
				if e.Kind == event.BootLoop {
					marks++
				}
			}
			if marks != tc.loops {
				t.Errorf("%d boot_loop events in the timeline, want %d", marks, tc.loops)
			}
			if tc.loops > 0 && strings.Contains(m.Summary.LastStep, "boot_loop") {
				t.Errorf("last step %q is the loop mark, not the machine's step", m.Summary.LastStep)
			}
		})
	}
}

// TestBootLoopWarning: the warning names the machine and the loader, and
// IP-only fetches resolved to the machine count.
func TestBootLoopWarning(t *testing.T) {
	var logs bytes.Buffer
	c := newClock()
	resolve := func(netip.Addr) (net.HardwareAddr, bool) { return hw(loopMAC), true }
	r, err := New(Config{Now: c.Now, Resolve: resolve}, zerolog.New(&logs), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r.Record(event.Event{MAC: hw(loopMAC), IP: ip("10.0.0.5"), Hostname: "node5", Service: event.DHCP, Kind: event.DHCPOut,
		MsgType: event.Ack, File: "snponly.efi"})
	for range 3 {
		c.Advance(time.Minute)
		r.Record(event.Event{IP: ip("10.0.0.5"), Service: event.TFTP, Kind: event.Transfer, Result: event.OK, File: "snponly.efi"})
	}
	for _, want := range []string{`"mac":"52:54:00:aa:bb:cc"`, `"ip":"10.0.0.5"`, `"hostname":"node5"`,
		`"file":"snponly.efi"`, `"fetches":3`, `"level":"warn"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("warning lacks %s: %s", want, logs.String())
		}
	}
	m, _ := r.Machine(hw(loopMAC))
	last := m.Events[len(m.Events)-1]
	if last.Kind != event.BootLoop || last.File != "snponly.efi" || last.Detail != "fetched 3 times within 10m0s" {
		t.Errorf("loop mark = %+v", last)
	}
}
