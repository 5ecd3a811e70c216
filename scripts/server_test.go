package scripts

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

const dataTemplate = `mac={{.MAC}} hy={{.MACHyphen}} hex={{.MACHex}} ip={{.IP}} arch={{.Arch}}/{{.ArchCode}} host={{.Hostname}} known={{.Known}} src={{.Source}} {{if .Known}}role={{.Vars.role}} res={{.Host.IP}} {{end}}server={{.ServerIP}} base={{.HTTPBase}} name={{.Name}} proto={{.Protocol}}`

type fakeNet struct {
	leases map[netip.Addr]Lease
	arp    map[netip.Addr]net.HardwareAddr
}

func (f fakeNet) lease(ip netip.Addr) (Lease, bool) { l, ok := f.leases[ip]; return l, ok }
func (f fakeNet) neigh(ip netip.Addr) (net.HardwareAddr, bool) {
	m, ok := f.arp[ip]
	return m, ok
}

func hw(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
func ip(s string) netip.Addr       { return netip.MustParseAddr(s) }

func newTestServer(t *testing.T, tmpl string) (*Server, *prometheus.Registry) {
	t.Helper()
	hosts := testHosts()
	byCID := Host{IP: "10.0.0.13", Hostname: "cid1", Vars: map[string]string{"role": "by-client-id"}, Key: "dhcp.hosts[2]"}
	f := fakeNet{
		leases: map[netip.Addr]Lease{
			ip("10.0.0.11"):  {MAC: hw("52:54:00:00:00:01"), Hostname: "web1", Arch: 7, Host: &hosts[0]},
			ip("10.0.0.13"):  {MAC: hw("52:54:00:00:00:03"), Hostname: "cid1", Arch: 0, Host: &byCID},
			ip("10.0.0.100"): {MAC: hw("52:54:00:00:00:aa"), Hostname: "sent-name", Arch: 11},
			ip("10.0.0.101"): {MAC: hw("52:54:00:00:00:ab"), Hostname: "x\nkernel http://evil/vmlinuz", Arch: 7},
		},
		arp: map[netip.Addr]net.HardwareAddr{
			ip("10.0.0.12"):  hw("52:54:00:00:00:02"),
			ip("10.0.0.11"):  hw("52:54:00:00:00:99"), // the lease wins
			ip("10.0.0.200"): hw("52:54:00:00:00:bb"),
		},
	}
	reg := prometheus.NewRegistry()
	s, err := New(Config{Scripts: []Script{{Name: "boot.ipxe", Template: tmpl}}, Hosts: hosts,
		Leases: f.lease, Neighbours: f.neigh, HTTPAddr: ":8080", ServerIP: "10.0.0.1"}, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// TestIdentity: ?mac= wins over the lease, the lease over the neighbour
// table; a lease's facts apply only to its own MAC.
func TestIdentity(t *testing.T) {
	s, reg := newTestServer(t, dataTemplate)
	tests := map[string]struct {
		req  Request
		want string
	}{
		"lease with reservation": {req: Request{Remote: ip("10.0.0.11"), Local: ip("10.0.0.1")},
			want: "mac=52:54:00:00:00:01 hy=52-54-00-00-00-01 hex=525400000001 ip=10.0.0.11 arch=efi64/7 host=web1 known=true src=lease role=web res=10.0.0.11 server=10.0.0.1 base=http://10.0.0.1:8080"},
		"reservation by client id via lease": {req: Request{Remote: ip("10.0.0.13")},
			want: "mac=52:54:00:00:00:03 hy=52-54-00-00-00-03 hex=525400000003 ip=10.0.0.13 arch=bios/0 host=cid1 known=true src=lease role=by-client-id res=10.0.0.13 server=10.0.0.1"},
		"dynamic lease": {req: Request{Remote: ip("10.0.0.100")},
			want: "mac=52:54:00:00:00:aa hy=52-54-00-00-00-aa hex=5254000000aa ip=10.0.0.100 arch=arm64/11 host=sent-name known=false src=lease server="},
		"client-sent host name that is no host name": {req: Request{Remote: ip("10.0.0.101")},
			want: "mac=52:54:00:00:00:ab hy=52-54-00-00-00-ab hex=5254000000ab ip=10.0.0.101 arch=efi64/7 host= known=false src=lease server="},
		"neighbour table, reserved MAC": {req: Request{Remote: ip("10.0.0.12")},
			want: "mac=52:54:00:00:00:02 hy=52-54-00-00-00-02 hex=525400000002 ip=10.0.0.12 arch=/-1 host=db1 known=true src=arp role=db res=10.0.0.12"},
		"neighbour table, unknown MAC": {req: Request{Remote: ip("10.0.0.200")},
			want: "mac=52:54:00:00:00:bb hy=52-54-00-00-00-bb hex=5254000000bb ip=10.0.0.200 arch=/-1 host= known=false src=arp server="},
		"query beats lease": {req: Request{Remote: ip("10.0.0.11"), MAC: "52-54-00-00-00-02"},
			want: "mac=52:54:00:00:00:02 hy=52-54-00-00-00-02 hex=525400000002 ip=10.0.0.11 arch=/-1 host=db1 known=true src=query role=db"},
		"query matching the lease keeps its facts": {req: Request{Remote: ip("10.0.0.11"), MAC: "52:54:00:00:00:01"},
			want: "arch=efi64/7 host=web1 known=true src=query"},
		"query without separators, arch by name": {req: Request{Remote: ip("127.0.0.1"), MAC: "525400000001", Arch: "arm64"},
			want: "mac=52:54:00:00:00:01 hy=52-54-00-00-00-01 hex=525400000001 ip=127.0.0.1 arch=arm64/11 host=web1 known=true src=query"},
		"nobody": {req: Request{Remote: ip("127.0.0.1"), Protocol: "tftp", Local: ip("127.0.0.1")},
			want: "mac= hy= hex= ip=127.0.0.1 arch=/-1 host= known=false src=none server=127.0.0.1 base=http://127.0.0.1:8080 name=boot.ipxe proto=tftp"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.req.Name = "/boot.ipxe"
			if tc.req.Protocol == "" {
				tc.req.Protocol = "http"
			}
			got, ok, err := s.Render(tc.req)
			if err != nil || !ok {
				t.Fatalf("Render: %v %v", ok, err)
			}
			if !strings.Contains(string(got), tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, bad := range []Request{{Name: "boot.ipxe", Protocol: "http", MAC: "nonsense"}, {Name: "boot.ipxe", Protocol: "http", MAC: "525400000001", Arch: "sparc"}} {
		if _, ok, err := s.Render(bad); !ok || err == nil {
			t.Errorf("Render(%+v) = %v, %v; want an error", bad, ok, err)
		}
	}
	if _, ok, _ := s.Render(Request{Name: "other.ipxe"}); ok {
		t.Error("a name that is no script rendered")
	}
	if got := testutil.ToFloat64(s.renders.WithLabelValues("http", "ok")); got != 9 {
		t.Errorf("renders ok = %v, want 9", got)
	}
	if got := testutil.ToFloat64(s.renders.WithLabelValues("http", "error")); got != 2 {
		t.Errorf("renders error = %v, want 2", got)
	}
	for src, want := range map[string]float64{"query": 4, "lease": 4, "arp": 2, "none": 2} {
		if got := testutil.ToFloat64(s.sources.WithLabelValues(src)); got != want {
			t.Errorf("identity %s = %v, want %v", src, got, want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "bootsrv_scripts_renders_total", "bootsrv_scripts_identity_total"); err != nil || n != 8 {
		t.Errorf("%d series (%v), want 8 from the start", n, err)
	}
}

func TestHandler(t *testing.T) {
	s, _ := newTestServer(t, dataTemplate)
	store := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "store:"+r.URL.Path) })
	mux := http.NewServeMux()
	mux.Handle("/images/", http.StripPrefix("/images/", s.Handler(store)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base := srv.URL + "/images/"
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("GET", "boot.ipxe?mac=52:54:00:00:00:02")
	if resp.StatusCode != 200 || !strings.Contains(body, "host=db1 known=true src=query role=db") ||
		!strings.Contains(body, "ip=127.0.0.1") || !strings.Contains(body, "base="+srv.URL+" ") {
		t.Errorf("GET: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("headers %v", resp.Header)
	}
	resp, body = get("HEAD", "boot.ipxe")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d len %d %q", resp.StatusCode, resp.ContentLength, body)
	}
	if resp, body = get("GET", "kernel"); body != "store:kernel" {
		t.Errorf("other names go to the store handler: %d %q", resp.StatusCode, body)
	}
	if resp, _ = get("GET", "boot.ipxe?mac=zz"); resp.StatusCode != 500 {
		t.Errorf("bad ?mac=: %d, want 500", resp.StatusCode)
	}
	if resp, body = get("POST", "boot.ipxe"); body != "store:boot.ipxe" {
		t.Errorf("POST went to %d %q, want the store handler (which refuses it)", resp.StatusCode, body)
	}
}

// FuzzHandler: any path and query give an answer, never a panic.
func FuzzHandler(f *testing.F) {
	s, err := New(Config{Scripts: []Script{{Name: "boot.ipxe", Template: dataTemplate}}, Hosts: testHosts(),
		Neighbours: func(netip.Addr) (net.HardwareAddr, bool) { return nil, false }}, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler(nil)
	for _, seed := range []string{"/boot.ipxe?mac=52:54:00:00:00:01", "boot.ipxe?arch=7&mac=525400000002", "../boot.ipxe", "boot.ipxe?mac=%00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, target string) {
		r, err := http.NewRequest("GET", "http://x/", nil)
		if err != nil {
			return
		}
		path, query, _ := strings.Cut(target, "?")
		r.URL.Path, r.URL.RawQuery = path, query
		r.RemoteAddr = "10.0.0.11:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 && w.Code != 404 && w.Code != 500 {
			t.Fatalf("%q: status %d", target, w.Code)
		}
	})
}

// TestRejectedHostnameIsCounted: a client-sent host name carrying a line
// break never reaches the script, and the rejection is counted.
func TestRejectedHostnameIsCounted(t *testing.T) {
	s, _ := newTestServer(t, "#!ipxe\necho {{.Hostname}}\n")
	data, ok, err := s.Render(Request{Name: "boot.ipxe", Protocol: "http", Remote: ip("10.0.0.101")})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if string(data) != "#!ipxe\necho \n" {
		t.Fatalf("script = %q", data)
	}
	if got := testutil.ToFloat64(s.rejected.WithLabelValues("hostname")); got != 1 {
		t.Fatalf("rejected{hostname} = %v, want 1", got)
	}
}

func TestValidHostname(t *testing.T) {
	tests := map[string]bool{
		"node1": true, "node-1.lab.example": true, "a": true, "fqdn.example.": true,
		"": false, "-node": false, "node-": false, "no_underscore": false, "two..dots": false,
		"x\nkernel http://evil": false, "sp ace": false, "ünicode": false, "{{.MAC}}": false,
		strings.Repeat("a", 64): false, strings.Repeat("a", 63): true,
		strings.Repeat("abcdefghi.", 25) + "abcd": false,
	}
	for in, want := range tests {
		if got := ValidHostname(in); got != want {
			t.Errorf("ValidHostname(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestImagesURL: .ImagesURL is .HTTPBase plus http.images_path without its
// trailing slash, over TFTP (from http.listen) and over HTTP (from the
// connection), and empty when there is no HTTP base.
func TestImagesURL(t *testing.T) {
	for name, tc := range map[string]struct {
		path, httpAddr string
		tftp, http     string
	}{
		"default":  {httpAddr: ":8080", tftp: "http://10.0.0.1:8080/images", http: "http://10.0.0.1:9999/images"},
		"images":   {path: "/images/", httpAddr: ":8080", tftp: "http://10.0.0.1:8080/images", http: "http://10.0.0.1:9999/images"},
		"root":     {path: "/", httpAddr: ":8080", tftp: "http://10.0.0.1:8080", http: "http://10.0.0.1:9999"},
		"custom":   {path: "/boot/efi/", httpAddr: "10.0.0.7:80", tftp: "http://10.0.0.7:80/boot/efi", http: "http://10.0.0.1:9999/boot/efi"},
		"http off": {path: "/", httpAddr: "off", tftp: "", http: "http://10.0.0.1:9999"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(Config{Scripts: []Script{{Name: "boot.ipxe", Template: "u={{.ImagesURL}}/vmlinuz"}},
				HTTPAddr: tc.httpAddr, ImagesPath: tc.path, Neighbours: fakeNet{}.neigh}, zerolog.Nop(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			want := func(u string) string {
				if u == "" {
					return "u=/vmlinuz"
				}
				return "u=" + u + "/vmlinuz"
			}
			got, _, err := s.Render(Request{Name: "boot.ipxe", Protocol: "tftp", Local: ip("10.0.0.1"), Remote: ip("10.0.0.50")})
			if err != nil || string(got) != want(tc.tftp) {
				t.Errorf("tftp: %q %v, want %q", got, err, want(tc.tftp))
			}
			req := httptest.NewRequest("GET", "/boot.ipxe", nil)
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9999}))
			req.URL.Path = "boot.ipxe"
			rec := httptest.NewRecorder()
			s.Handler(nil).ServeHTTP(rec, req)
			if rec.Body.String() != want(tc.http) {
				t.Errorf("http: %q, want %q", rec.Body.String(), want(tc.http))
			}
		})
	}
}

// TestIPv6URLs: IPv6 addresses are bracketed in .HTTPBase and .ImagesURL,
// and neither they nor .IP and .ServerIP carry the server's zone: it
// names the server's interface, not the client's.
func TestIPv6URLs(t *testing.T) {
	const tmpl = "ip={{.IP}} server={{.ServerIP}} base={{.HTTPBase}} images={{.ImagesURL}}"
	for name, tc := range map[string]struct {
		httpAddr      string
		local, remote string       // over TFTP
		conn          *net.TCPAddr // over HTTP: the connection's local address
		want          string
	}{
		"tftp global": {httpAddr: ":8080", local: "2001:db8::1", remote: "2001:db8::50",
			want: "ip=2001:db8::50 server=2001:db8::1 base=http://[2001:db8::1]:8080 images=http://[2001:db8::1]:8080/images"},
		"tftp link-local": {httpAddr: "[::]:8080", local: "fe80::1%eth0", remote: "fe80::50%eth0",
			want: "ip=fe80::50 server=fe80::1 base=http://[fe80::1]:8080 images=http://[fe80::1]:8080/images"},
		"tftp IPv4-mapped": {httpAddr: ":8080", local: "::ffff:10.0.0.1", remote: "::ffff:10.0.0.50",
			want: "ip=10.0.0.50 server=10.0.0.1 base=http://10.0.0.1:8080"},
		"listen address IPv6": {httpAddr: "[2001:db8::7]:80", local: "2001:db8::1", remote: "2001:db8::50",
			want: "base=http://[2001:db8::7]:80 images=http://[2001:db8::7]:80/images"},
		"listen address link-local": {httpAddr: "[fe80::7%eth0]:80", local: "fe80::1%eth0", remote: "fe80::50%eth0",
			want: "base=http://[fe80::7]:80 images=http://[fe80::7]:80/images"},
		"http link-local": {conn: &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0", Port: 9999}, remote: "fe80::50%eth0",
			want: "ip=fe80::50 server=fe80::1 base=http://[fe80::1]:9999 images=http://[fe80::1]:9999/images"},
		"http global": {conn: &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 80}, remote: "2001:db8::50",
			want: "ip=2001:db8::50 server=2001:db8::1 base=http://[2001:db8::1]:80 images=http://[2001:db8::1]:80/images"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(Config{Scripts: []Script{{Name: "boot.ipxe", Template: tmpl}},
				HTTPAddr: tc.httpAddr, Neighbours: fakeNet{}.neigh}, zerolog.Nop(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if tc.conn == nil {
				out, _, err := s.Render(Request{Name: "boot.ipxe", Protocol: "tftp", Local: ip(tc.local), Remote: ip(tc.remote)})
				if err != nil {
					t.Fatal(err)
				}
				got = string(out)
			} else {
				req := httptest.NewRequest("GET", "/boot.ipxe", nil)
				req.RemoteAddr = netip.AddrPortFrom(ip(tc.remote), 40000).String()
				req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tc.conn))
				req.URL.Path = "boot.ipxe"
				rec := httptest.NewRecorder()
				s.Handler(nil).ServeHTTP(rec, req)
				got = rec.Body.String()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			for _, f := range strings.Fields(got) {
				if base, ok := strings.CutPrefix(f, "base="); ok {
					if u, err := url.Parse(base); err != nil || u.Port() == "" {
						t.Errorf("base %q is no URL with a port: %v", base, err)
					}
				}
			}
		})
	}
}
