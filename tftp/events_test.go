package tftp

import (
	"sync"
	"testing"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// eventLog is a Sink that keeps what it is told.
type eventLog struct {
	mu sync.Mutex
	ev []event.Event
}

func (l *eventLog) Record(e event.Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) all() []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event.Event(nil), l.ev...)
}

// TestEvents: a complete read is a Transfer of the store's name (no
// leading slash) with its size, a missing file a Refusal; the boot
// timeline is told of both.
func TestEvents(t *testing.T) {
	log := &eventLog{}
	cfg := fastConfig()
	cfg.Events = log
	ts := newTestServer(t, cfg, map[string][]byte{"pxelinux.0": make([]byte, 3000)})
	if _, _, err := get(ts.addr, "/pxelinux.0", "octet", 1468, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(ts.addr, "nothing", "octet", 0, false); err == nil {
		t.Fatal("a missing file was served")
	}
	eventually(t, "two events", func() bool { return len(log.all()) == 2 })
	got := map[event.Kind]event.Event{}
	for _, e := range log.all() {
		got[e.Kind] = e
	}
	tr, ref := got[event.Transfer], got[event.Refusal]
	if tr.File != "pxelinux.0" || tr.Bytes != 3000 || tr.Result != event.OK || tr.Service != event.TFTP || tr.IP.String() != "127.0.0.1" {
		t.Errorf("transfer event %+v", tr)
	}
	if ref.File != "nothing" || ref.Result != event.Failed || ref.Detail != "not_found" {
		t.Errorf("refusal event %+v", ref)
	}
}
