package web

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// TestTransferAccounting: GETs of the store are counted by result and told
// to the boot timeline (a complete 200 as a Transfer with its size, a 404
// as a Refusal); HEADs and ranges are no boot steps.
func TestTransferAccounting(t *testing.T) {
	data := bytes.Repeat([]byte("k"), 100000)
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimLeft(r.URL.Path, "/") != "vmlinuz" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "vmlinuz", time.Unix(0, 0), bytes.NewReader(data))
	})
	var mu sync.Mutex
	var events []event.Event
	sink := event.SinkFunc(func(e event.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	addr, reg := newTestServer(t, Config{}, Routes{Files: files, Events: sink})
	get := func(method, path, rng string) int {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("GET", "/images/vmlinuz", ""); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	get("GET", "/images/missing", "")
	get("HEAD", "/images/vmlinuz", "")
	get("GET", "/images/vmlinuz", "bytes=0-9")
	waitFor(t, func() bool { return metricValue(t, reg, "bootsrv_http_transfers_total", "partial") == 1 })
	for result, want := range map[string]float64{"ok": 1, "not_found": 1, "partial": 1, "error": 0} {
		if got := metricValue(t, reg, "bootsrv_http_transfers_total", result); got != want {
			t.Errorf("transfers{%s} = %v, want %v", result, got, want)
		}
	}
	if got := metricValue(t, reg, "bootsrv_http_bytes_total", ""); got != 100010 {
		t.Errorf("bytes = %v, want 100010", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 {
		t.Fatalf("events %+v, want the GET and the 404", events)
	}
	if e := events[0]; e.Kind != event.Transfer || e.File != "vmlinuz" || e.Bytes != 100000 || e.Result != event.OK || e.IP.String() != "127.0.0.1" {
		t.Errorf("transfer event %+v", e)
	}
	if e := events[1]; e.Kind != event.Refusal || e.File != "missing" || !strings.Contains(e.Detail, "404") {
		t.Errorf("refusal event %+v", e)
	}
}
