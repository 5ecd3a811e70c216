package timeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// TestClient: the client reads every page, one machine, and tells an
// unknown machine from other errors.
func TestClient(t *testing.T) {
	r := newTestRecorder(t, Config{})
	fill(r, MaxLimit+5)
	srv := newTestServer(t, r.Recorder)
	c := Client{BaseURL: srv.URL + "/"}
	ctx := context.Background()

	all, err := c.All(ctx, "")
	if err != nil || len(all) != MaxLimit+5 {
		t.Fatalf("All = %d machines, %v", len(all), err)
	}
	found, err := c.All(ctx, "node100")
	if err != nil || len(found) != 6 { // Node100, Node1000-Node1004
		t.Errorf("All(node100) = %d machines, %v", len(found), err)
	}
	m, err := c.Machine(ctx, "52:54:00:00:00:07")
	if err != nil || m.Summary.Hostname != "Node7" || len(m.Events) != 1 || m.Events[0].MsgType != event.Ack {
		t.Errorf("Machine = %+v, %v", m, err)
	}
	if _, err := c.Machine(ctx, "52:54:00:99:99:99"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown machine: %v, want ErrNotFound", err)
	}
	if _, err := c.Machine(ctx, "bogus"); err == nil || errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), "neither a MAC nor an IP") {
		t.Errorf("bad MAC: %v", err)
	}
	if _, err := (Client{BaseURL: "http://127.0.0.1:1"}).List(ctx, "", 0, 1); err == nil {
		t.Error("no error from a server that is not there")
	}
}

// TestPrint: the table and the timeline show what an admin looks for, and
// client-sent text cannot drive the terminal.
func TestPrint(t *testing.T) {
	r := newTestRecorder(t, Config{})
	mac := hw("52:54:00:aa:bb:cc")
	r.Record(event.Event{MAC: mac, IP: ip("10.0.0.5"), Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack,
		Result: event.OK, File: "pxelinux.0", Hostname: "evil\x1b[2Jhost", VendorClass: "PXEClient"})
	for range 3 {
		r.clock.Advance(time.Minute)
		r.Record(event.Event{MAC: mac, IP: ip("10.0.0.5"), Service: event.TFTP, Kind: event.Transfer, Result: event.OK,
			File: "pxelinux.0", Bytes: 42, Duration: 1200 * time.Millisecond})
	}
	r.Record(event.Event{IP: ip("10.0.0.9"), Service: event.HTTP, Kind: event.Transfer, Result: event.Failed,
		File: "vmlinuz", Detail: "not found"})

	var b strings.Builder
	l := r.Machines("", 0, 10)
	if err := PrintList(&b, l.Machines, r.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"MAC", "LAST-STEP", "(unknown)", "10.0.0.9", "http vmlinuz error: not found",
		"52:54:00:aa:bb:cc", "tftp pxelinux.0 ok", "LOOP", "1m0s ago", `"evil\x1b[2Jhost"`} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("an escape character reached the terminal:\n%q", out)
	}

	b.Reset()
	m, _ := r.Machine(mac)
	if err := PrintMachine(&b, m); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for _, want := range []string{"Bootfile:", "pxelinux.0", "Boot loop:", "YES", "Events:", "5 kept of 5",
		"TIME", "ack pxelinux.0", "bytes=42 took=1.2s", `vendor_class="PXEClient"`, "boot_loop",
		`detail="fetched 3 times within 10m0s"`} {
		if !strings.Contains(out, want) {
			t.Errorf("timeline lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("an escape character reached the terminal:\n%q", out)
	}
}
