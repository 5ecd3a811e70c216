package console

import (
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline"
	"github.com/bootsrv/bootsrv/timeline/event"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// fakeLeases filters and pages a slice, as cmd/bootsrv's adapter does.
type fakeLeases []Lease

func (f fakeLeases) Leases(q string, offset, limit int) LeasePage {
	var match []Lease
	for _, l := range f {
		if q == "" || strings.Contains(l.MAC, q) || strings.Contains(l.IP, q) || strings.Contains(l.Hostname, q) {
			match = append(match, l)
		}
	}
	p := LeasePage{Total: len(match)}
	if offset < len(match) {
		p.Leases = match[offset:min(offset+limit, len(match))]
	}
	return p
}

// dirUploads serves the files of a folder.
type dirUploads struct{ dir string }

func (d dirUploads) List() ([]Upload, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	var out []Upload
	for _, e := range entries {
		fi, _ := e.Info()
		u := Upload{Name: e.Name(), Size: fi.Size(), Time: fi.ModTime()}
		if e.Name() == "sw1-confg" {
			u.Service, u.User, u.Peer = "ftp", "netops", "10.0.0.9"
		}
		out = append(out, u)
	}
	return out, nil
}

func (d dirUploads) Open(name string) (io.ReadSeekCloser, fs.FileInfo, error) {
	if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		return nil, nil, ErrNotFound
	}
	f, err := os.Open(filepath.Join(d.dir, name))
	if err != nil {
		return nil, nil, ErrNotFound
	}
	fi, _ := f.Stat()
	return f, fi, nil
}

// newTestConsole is a console over a real timeline with a booted machine,
// a looping one and one with a hostile host name; 120 leases; two
// uploads; a transfer in flight.
func newTestConsole(t testing.TB) *httptest.Server {
	t.Helper()
	now := t0
	rec, err := timeline.New(timeline.Config{Now: func() time.Time { return now }}, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	ip := netip.MustParseAddr("10.0.0.101")
	for _, e := range []event.Event{
		{Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.Discover, MAC: mac, Arch: "efi64", Hostname: "node1"},
		{Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.Ack, MAC: mac, IP: ip, File: "snponly.efi", Rule: "dhcp.boot.efi64"},
		{Service: event.TFTP, Kind: event.Transfer, Result: event.OK, IP: ip, File: "snponly.efi", Bytes: 190000, Duration: 300 * time.Millisecond},
		{Service: event.Script, Kind: event.Render, Result: event.OK, IP: ip, File: "boot.ipxe"},
		{Service: event.HTTP, Kind: event.Transfer, Result: event.Failed, IP: ip, File: "vmlinuz", Detail: "404"},
	} {
		now = now.Add(time.Second)
		e.Time = now
		rec.Record(e)
	}
	evil, _ := net.ParseMAC("52:54:00:66:66:66")
	rec.Record(event.Event{Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.Discover, MAC: evil, Hostname: `<script>alert(1)</script>`, Time: now})
	var leases fakeLeases
	for i := range 120 {
		leases = append(leases, Lease{IP: fmt.Sprintf("10.0.0.%d", 100+i), MAC: fmt.Sprintf("52:54:00:00:00:%02x", i),
			Hostname: fmt.Sprintf("host%03d", i), Expiry: t0.Add(time.Hour)})
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sw1-confg"), []byte("hostname sw1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "evil.html"), []byte("<script>alert(1)</script>"), 0o644)
	reg := inflight.New(0, 0)
	tr := reg.Start(inflight.Info{Service: "tftp", File: "images/big.iso", Peer: "10.0.0.101:2000", Size: 1000})
	tr.Add(250)
	t.Cleanup(tr.Done)
	c, err := New(Config{Root: true, Now: func() time.Time { return t0.Add(time.Minute) }}, Sources{
		Status: func() Status {
			return Status{Version: "v1.2.3", Started: t0, Auth: true,
				Services:  []Service{{Name: "tftp", Addr: "0.0.0.0:69"}, {Name: "dhcp", Addr: "0.0.0.0:67", Down: "lease store unavailable"}},
				Transfers: reg.Running(),
				Reload:    &Reload{At: t0, OK: true, Changed: []string{"dhcp.hosts[0].ip"}, NeedsRestart: []string{"tftp.listen"}},
				Counters:  []Counter{{Name: "DHCP ACKs", Value: 1234}, {Name: "boot loops", Value: 2, Bad: true}, {Name: "TFTP sent", Value: 5 << 20, Bytes: true}},
			}
		},
		Machines: rec,
		Leases:   leases,
		Uploads:  dirUploads{dir},
		Explain: func(get func(string) string) (Explanation, error) {
			if _, err := net.ParseMAC(get("mac")); err != nil {
				return Explanation{}, fmt.Errorf("mac %q is not a MAC address", get("mac"))
			}
			return Explanation{MAC: get("mac"), Reply: "ack", Address: "10.0.0.101", AddressWhy: "a free address of the pool",
				Bootfile: "snponly.efi", NextServer: "10.0.0.1", DecidedBy: "dhcp.boot.efi64", Steps: []string{"arch efi64"},
				Options: []Option{{Code: 67, Name: "bootfile name", Value: "snponly.efi"}},
				File:    &BootFile{Name: "snponly.efi", Kind: "file", Size: 190000, TFTP: "tftp://10.0.0.1/snponly.efi"}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range c.Handlers() {
		mux.Handle(p, h)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func fetch(t testing.TB, ts *httptest.Server, path string) (int, string, http.Header) {
	t.Helper()
	resp, err := ts.Client().Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestPages(t *testing.T) {
	ts := newTestConsole(t)
	cases := map[string]struct {
		code    int
		want    []string
		notWant []string
	}{
		"/": {200, []string{"Overview", "v1.2.3", "0.0.0.0:69", "lease store unavailable", "images/big.iso",
			`<progress max="100" value="25">`, "250 B of 1000 B", "dhcp.hosts[0].ip", "tftp.listen", "1\u202f234", "5.0 MiB"}, nil},
		"/console/":                                         {200, []string{"Overview", "Transfers in flight"}, nil},
		"/console/live":                                     {200, []string{"images/big.iso", "serving"}, []string{"<html"}},
		"/console/nothing":                                  {404, []string{"No such page"}, nil},
		"/console/machines":                                 {200, []string{"52:54:00:12:34:56", "node1", "10.0.0.101", "efi64", "http vmlinuz error", "none"[:0]}, []string{"<script>alert"}},
		"/console/machines?q=34:56":                         {200, []string{"52:54:00:12:34:56", "1–1 of 1"}, []string{"66:66:66"}},
		"/console/machines?q=NODE1":                         {200, []string{"52:54:00:12:34:56"}, nil},
		"/console/machines?q=nobody":                        {200, []string{"No machine matches"}, nil},
		"/console/machines?page=0":                          {400, []string{"page: want a number"}, nil},
		"/console/machines/52:54:00:12:34:56":               {200, []string{`data-service="tftp"`, "snponly.efi", "186 KiB", "dhcp.boot.efi64", "ACK", "+", "404"}, nil},
		"/console/machines/525400123456":                    {200, []string{"node1"}, nil},
		"/console/machines/10.0.0.101":                      {200, []string{"52:54:00:12:34:56"}, nil},
		"/console/machines/52:54:00:99:99:99":               {404, []string{"No timeline for"}, nil},
		"/console/machines/nonsense":                        {400, []string{"Not a MAC or IP"}, nil},
		"/console/leases":                                   {200, []string{"10.0.0.100", "1–50 of 120", "page 1 of 3", "next ›"}, []string{"10.0.0.150"}},
		"/console/leases?page=3":                            {200, []string{"101–120 of 120", "10.0.0.219", "‹ previous"}, []string{"next ›"}},
		"/console/leases?q=host042":                         {200, []string{"10.0.0.142", "1–1 of 1"}, nil},
		"/console/leases?q=" + strings.Repeat("x", 201):     {400, []string{"at most 200"}, nil},
		"/console/uploads":                                  {200, []string{"sw1-confg", "netops", "10.0.0.9", "evil.html", "unknown"}, nil},
		"/console/uploads?q=netops":                         {200, []string{"sw1-confg"}, []string{"evil.html"}},
		"/console/explain":                                  {200, []string{`name="mac"`}, []string{"explanation"}},
		"/console/explain?mac=52:54:00:12:34:56&arch=efi64": {200, []string{`id="explanation"`, "ACK", "10.0.0.101", "dhcp.boot.efi64", "tftp://10.0.0.1/snponly.efi", `<option value="efi64" selected>`}, nil},
		"/console/explain?mac=zz":                           {400, []string{"is not a MAC address", `value="zz"`}, nil},
		"/console/static/console.css":                       {200, []string{"--accent"}, nil},
		"/console/static/console.js":                        {200, []string{"data-refresh"}, nil},
	}
	for path, tc := range cases {
		t.Run(path, func(t *testing.T) {
			code, body, h := fetch(t, ts, path)
			if code != tc.code {
				t.Fatalf("%d, want %d:\n%s", code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("no %q in:\n%s", w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("%q in:\n%s", w, body)
				}
			}
			if strings.HasPrefix(h.Get("Content-Type"), "text/html") && !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("page without its CSP: %v", h)
			}
		})
	}
}

// TestEscaped: a host name a client sent is text, never markup.
func TestEscaped(t *testing.T) {
	ts := newTestConsole(t)
	_, body, _ := fetch(t, ts, "/console/machines/52:54:00:66:66:66")
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("host name not escaped:\n%s", body)
	}
}

// TestDownload: an upload comes as an attachment of bytes, whatever it
// holds, and names outside the upload area are not found.
func TestDownload(t *testing.T) {
	ts := newTestConsole(t)
	code, body, h := fetch(t, ts, "/console/uploads/evil.html")
	if code != 200 || body != "<script>alert(1)</script>" {
		t.Fatalf("%d %q", code, body)
	}
	if h.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("headers %v", h)
	}
	for _, p := range []string{"/console/uploads/nothing", "/console/uploads/../console.go", "/console/uploads/%2e%2e%2fconsole.go", "/console/uploads/a/b"} {
		if code, body, _ := fetch(t, ts, p); code != 404 && code/100 != 3 {
			t.Errorf("%s: %d %q", p, code, body)
		}
	}
}

// FuzzListQuery: whatever query string a list page gets, it answers 200
// or 400 with a page, never 500 or a panic.
func FuzzListQuery(f *testing.F) {
	ts := newTestConsole(f)
	for _, s := range []string{"q=abc", "page=2", "page=-1", "q=%00", "q=%ff%fe", "page=99999999999999999999", "q=52-54-00", "page=1&page=2", "q=a&q=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if q, err := parseList(v); err == nil && (q.Page < 1 || q.Page > maxPage || len(q.Q) > 4*maxQuery) {
			t.Fatalf("%q parsed to %+v", raw, q)
		}
		for _, page := range []string{"machines", "leases", "uploads"} {
			code, body, _ := fetch(t, ts, "/console/"+page+"?"+v.Encode())
			if code != 200 && code != 400 {
				t.Fatalf("%s?%s: %d %s", page, raw, code, body)
			}
		}
	})
}

// TestPager: links keep the search and stop at the ends.
func TestPager(t *testing.T) {
	cases := map[string]struct {
		q                  listQuery
		total, shown       int
		prev, next, range_ string
	}{
		"first of three": {listQuery{Q: "a b", Page: 1}, 120, 50, "", "/x?page=2&q=a+b", "1-50"},
		"middle":         {listQuery{Page: 2}, 120, 50, "/x", "/x?page=3", "51-100"},
		"last":           {listQuery{Page: 3}, 120, 20, "/x?page=2", "", "101-120"},
		"past the end":   {listQuery{Page: 9}, 120, 0, "/x?page=3", "", "0-0"},
		"empty":          {listQuery{Page: 1}, 0, 0, "", "", "0-0"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := newPager("/x", tc.q, tc.total, tc.shown, 50)
			if p.Prev != tc.prev || p.Next != tc.next || fmt.Sprintf("%d-%d", p.From, p.To) != tc.range_ {
				t.Errorf("%+v", p)
			}
		})
	}
}
