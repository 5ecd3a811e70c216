package timeline

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// newTestServer serves r's handlers the way cmd/bootsrv mounts them.
func newTestServer(t *testing.T, r *Recorder) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for pattern, h := range r.Handlers() {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// fill records n machines, machine i at 10.0.i/256.i%256 named node<i>,
// machine n-1 seen last.
func fill(r *testRecorder, n int) {
	for i := range n {
		r.clock.Advance(time.Second)
		r.Record(event.Event{MAC: testMAC(i), IP: netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)}),
			Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack, Result: event.OK,
			Hostname: fmt.Sprintf("Node%d", i), Arch: "efi64", File: "snponly.efi", Rule: "dhcp.boot.efi64"})
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	return resp.StatusCode, string(body)
}

// TestAPIJSONShape: the keys of a list and of a machine, as clients and the
// console read them.
func TestAPIJSONShape(t *testing.T) {
	r := newTestRecorder(t, Config{})
	fill(r, 1)
	r.clock.Advance(time.Second)
	r.Record(event.Event{MAC: testMAC(0), IP: ip("10.0.0.0"), Service: event.TFTP, Kind: event.Transfer,
		Result: event.OK, File: "snponly.efi", Bytes: 1000, Duration: 250 * time.Millisecond})
	srv := newTestServer(t, r.Recorder)

	code, body := get(t, srv.URL+"/api/machines")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var list map[string]any
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys(list)) != "[limit machines offset total]" || list["total"] != 1.0 || list["limit"] != 100.0 {
		t.Errorf("list = %s", body)
	}
	s := list["machines"].([]any)[0].(map[string]any)
	wantSummary := map[string]any{
		"mac": "52:54:00:00:00:00", "ip": "10.0.0.0", "hostname": "Node0", "arch": "efi64",
		"first_seen": "2026-03-01T10:00:01Z", "last_seen": "2026-03-01T10:00:02Z",
		"last_step": "tftp snponly.efi ok", "last_result": "ok", "bootfile": "snponly.efi",
		"boot_loop": false, "events": 2.0, "events_total": 2.0,
	}
	if fmt.Sprint(s) != fmt.Sprint(wantSummary) {
		t.Errorf("summary = %v\nwant      %v", s, wantSummary)
	}

	code, body = get(t, srv.URL+"/api/machines/52-54-00-00-00-00")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var m struct {
		Summary map[string]any   `json:"summary"`
		Events  []map[string]any `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m.Summary) != fmt.Sprint(wantSummary) || len(m.Events) != 2 {
		t.Fatalf("machine = %s", body)
	}
	wantEvents := []map[string]any{
		{"time": "2026-03-01T10:00:01Z", "ip": "10.0.0.0", "service": "dhcp", "kind": "dhcp_out", "result": "ok",
			"msg_type": "ack", "arch": "efi64", "hostname": "Node0", "file": "snponly.efi", "rule": "dhcp.boot.efi64"},
		{"time": "2026-03-01T10:00:02Z", "ip": "10.0.0.0", "service": "tftp", "kind": "transfer", "result": "ok",
			"file": "snponly.efi", "bytes": 1000.0, "duration_seconds": 0.25},
	}
	for i, want := range wantEvents {
		if fmt.Sprint(m.Events[i]) != fmt.Sprint(want) {
			t.Errorf("event %d = %v\nwant      %v", i, m.Events[i], want)
		}
	}
}

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// TestAPIListPagesAndSearch: offset/limit pages, most recent first, and
// ?q= over MAC, IP and host name.
func TestAPIListPagesAndSearch(t *testing.T) {
	r := newTestRecorder(t, Config{})
	fill(r, 300)
	srv := newTestServer(t, r.Recorder)
	tests := map[string]struct {
		query     string
		total     int
		firstHost string
		n         int
	}{
		"first page":       {"", 300, "Node299", 100},
		"limit and offset": {"?offset=10&limit=5", 300, "Node289", 5},
		"last page":        {"?offset=290&limit=50", 300, "Node9", 10},
		"past the end":     {"?offset=300", 300, "", 0},
		"host any case":    {"?q=NODE29", 11, "Node299", 11},
		"mac with colons":  {"?q=00:01:2", 12, "Node299", 12},
		"mac with hyphens": {"?q=52-54-00-00-01-2b", 1, "Node299", 1},
		"ip":               {"?q=10.0.1.43", 1, "Node299", 1},
		"no match":         {"?q=nothing", 0, "", 0},
		"search paged":     {"?q=node1&offset=100&limit=20", 111, "Node19", 11},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, body := get(t, srv.URL+"/api/machines"+tc.query)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			var l List
			if err := json.Unmarshal([]byte(body), &l); err != nil {
				t.Fatal(err)
			}
			if l.Total != tc.total || len(l.Machines) != tc.n {
				t.Fatalf("total %d, %d machines; want %d, %d", l.Total, len(l.Machines), tc.total, tc.n)
			}
			if tc.n > 0 && l.Machines[0].Hostname != tc.firstHost {
				t.Errorf("first is %s, want %s", l.Machines[0].Hostname, tc.firstHost)
			}
			for i := 1; i < len(l.Machines); i++ {
				if l.Machines[i].LastSeen.After(l.Machines[i-1].LastSeen) {
					t.Errorf("not most recent first at %d", i)
				}
			}
		})
	}
}

// TestAPIErrors: a bad {mac} is 400, an unknown one 404, bad paging 400;
// an IP finds the machine seen with it.
func TestAPIErrors(t *testing.T) {
	r := newTestRecorder(t, Config{})
	fill(r, 2)
	srv := newTestServer(t, r.Recorder)
	tests := map[string]struct {
		path string
		code int
		want string
	}{
		"unknown mac":     {"/api/machines/52:54:00:99:99:99", 404, `"error":"no timeline for 52:54:00:99:99:99"`},
		"bad mac":         {"/api/machines/not-a-mac", 400, `is neither a MAC nor an IP address`},
		"hexraw mac":      {"/api/machines/525400000001", 200, `"hostname":"Node1"`},
		"by ip":           {"/api/machines/10.0.0.1", 200, `"mac":"52:54:00:00:00:01"`},
		"unknown ip":      {"/api/machines/10.9.9.9", 404, `no timeline`},
		"bad limit":       {"/api/machines?limit=0", 400, `limit: want a number from 1 to 1000`},
		"huge limit":      {"/api/machines?limit=100000", 400, `limit:`},
		"negative offset": {"/api/machines?offset=-1", 400, `offset:`},
		"text offset":     {"/api/machines?offset=x", 400, `offset:`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, body := get(t, srv.URL+tc.path)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("GET %s = %d %s; want %d with %s", tc.path, code, body, tc.code, tc.want)
			}
		})
	}
	resp, err := http.Post(srv.URL+"/api/machines", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
}
