package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bootsrv/bootsrv/images"
)

// newImagesHTTP runs the real HTTP server (newHTTPServer) on 127.0.0.1:0
// over a store holding a netboot-like tree, with a file outside the store
// that no request may reach, and a service handler at /dhcp/leases.
func newImagesHTTP(t *testing.T, cfg Config) string {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "images")
	for name, data := range map[string]string{
		"a.txt":                                "A-FILE",
		"debian-installer/amd64/grubx64.efi":   "GRUB-EFI",
		"debian-installer/amd64/grub/grub.cfg": "GRUB-CFG",
		"api/x":                                "SHADOWED-API",
		"metrics":                              "SHADOWED-METRICS",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte("SECRET-OUTSIDE"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := images.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	health, err := NewHealth(nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := newTestServer(t, cfg, Routes{Files: store.Handler(), Handlers: map[string]http.Handler{
		"GET /metrics": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "METRICS") }),
		"GET /healthz": health,
		"GET /dhcp/leases": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "LEASES")
		}),
	}})
	return addr
}

// rawRequest sends the request line as written (no client cleans or
// re-encodes the path) and returns the status code, Location and body.
func rawRequest(t *testing.T, addr, method, path string) (int, string, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

type pathCase struct {
	method string // default GET
	code   int
	body   string // expected body, when set
}

func checkPaths(t *testing.T, addr string, cases map[string]pathCase) {
	t.Helper()
	for path, tc := range cases {
		method := tc.method
		if method == "" {
			method = "GET"
		}
		code, loc, body := rawRequest(t, addr, method, path)
		if code != tc.code || (tc.body != "" && body != tc.body) {
			t.Errorf("%s %s: %d %q (Location %q), want %d %q", method, path, code, body, loc, tc.code, tc.body)
		}
		if strings.Contains(body, "SECRET") || strings.Contains(body, "SHADOWED") {
			t.Errorf("%s %s: body %q", method, path, body)
		}
	}
}

// TestImagePathsNotRedirected: non-canonical paths under /images/ are
// served like their clean form, never redirected (firmware does not follow
// redirects), and no form of ".." leaves the store.
func TestImagePathsNotRedirected(t *testing.T) {
	addr := newImagesHTTP(t, Config{})
	checkPaths(t, addr, map[string]pathCase{
		"/images/a.txt":  {code: 200, body: "A-FILE"},
		"/images//a.txt": {code: 200, body: "A-FILE"},
		"/images/debian-installer/amd64//grubx64.efi":   {code: 200, body: "GRUB-EFI"},
		"/images/debian-installer//amd64///grubx64.efi": {code: 200, body: "GRUB-EFI"},
		"/images/./a.txt": {code: 200, body: "A-FILE"},
		"/images/debian-installer/./amd64/./grubx64.efi": {code: 200, body: "GRUB-EFI"},
		"//images/a.txt":  {code: 200, body: "A-FILE"},
		"/./images/a.txt": {code: 200, body: "A-FILE"},
		"/images%2Fa.txt": {code: 200, body: "A-FILE"},
		"/images/debian-installer%2Famd64%2Fgrubx64.efi":          {code: 200, body: "GRUB-EFI"},
		"/images/debian-installer%2F%2Famd64%2F.%2Fgrub/grub.cfg": {code: 200, body: "GRUB-CFG"},
		"/images/%2e/a.txt":                         {code: 200, body: "A-FILE"},
		"/images//a.txt?x=1":                        {code: 200, body: "A-FILE"},
		"/images/../secret":                         {code: 404},
		"/images/../images/a.txt":                   {code: 404},
		"/images/%2e%2e/secret":                     {code: 404},
		"/images/%2E%2E%2Fsecret":                   {code: 404},
		"/images/debian-installer/..%2f..%2fsecret": {code: 404},
		"/images/debian-installer//..//..//secret":  {code: 404},
		"/images/..%5csecret":                       {code: 404},
		`/images/..\secret`:                         {code: 404},
		"/images/%2e%2e%2f%2e%2e%2fsecret":          {code: 404},
		"/images/":                                  {code: 404},
		"/images":                                   {code: 404},
		"/images/debian-installer/":                 {code: 404},
		"/imagesx/a.txt":                            {code: 404},
		"/a.txt":                                    {code: 404},
		"/metrics":                                  {code: 200},
		"/healthz":                                  {code: 200, body: "ok\n"},
		"/dhcp/leases":                              {code: 200, body: "LEASES"},
	})
	checkPaths(t, addr, map[string]pathCase{
		"/images//debian-installer/amd64//grubx64.efi": {method: "HEAD", code: 200},
		"/images/a.txt": {method: "POST", code: 405},
	})
}

// FuzzImagesRouterMatch: the name the router hands to the store is the
// request path without the prefix's components, never more: once cleaned
// by images.Clean it is the cleaned path minus the prefix.
func FuzzImagesRouterMatch(f *testing.F) {
	for _, s := range []string{"/images/a", "/images//a", "//images/./a", "/images/../x", "/images", "/./", "/metrics", "/api/x", "/images%2fa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		for _, prefix := range []string{"/images/", "/", "/boot/ipxe/"} {
			rt := routeImages(prefix, nil, nil).(*imagesRouter)
			name, ok := rt.match(path)
			if !ok {
				continue
			}
			n, err := images.Clean(name)
			if err != nil {
				continue
			}
			full, err := images.Clean(path)
			if err != nil {
				t.Fatalf("prefix %q: %q matched as %q (clean %q) but the whole path does not clean: %v", prefix, path, name, n, err)
			}
			want := strings.Join(append(components(prefix), n), "/")
			if n == "." {
				want = strings.Join(components(prefix), "/")
				if want == "" {
					want = "."
				}
			}
			if full != want {
				t.Fatalf("prefix %q: %q cleans to %q, but the store gets %q (clean %q)", prefix, path, full, name, n)
			}
		}
	})
}

// TestImagesPathRoot: with http.images_path "/" the store answers every
// path but bootsrv's own routes, which it can never shadow (the store has
// files named metrics and api/x), in any non-canonical form too.
func TestImagesPathRoot(t *testing.T) {
	addr := newImagesHTTP(t, Config{ImagesPath: "/"})
	checkPaths(t, addr, map[string]pathCase{
		"/a.txt":                                {code: 200, body: "A-FILE"},
		"//a.txt":                               {code: 200, body: "A-FILE"},
		"/./a.txt":                              {code: 200, body: "A-FILE"},
		"/debian-installer/amd64//grubx64.efi":  {code: 200, body: "GRUB-EFI"},
		"/debian-installer/amd64/grub/grub.cfg": {code: 200, body: "GRUB-CFG"},
		"/debian-installer%2Famd64%2Fgrubx64.efi": {code: 200, body: "GRUB-EFI"},
		"/images/a.txt":                      {code: 404},
		"/../secret":                         {code: 404},
		"/%2e%2e/secret":                     {code: 404},
		"/debian-installer/..%2f..%2fsecret": {code: 404},
		"/metrics/../secret":                 {code: 404},
		"/":                                  {code: 404},
		"/metrics":                           {code: 200},
		"/healthz":                           {code: 200, body: "ok\n"},
		"/dhcp/leases":                       {code: 200, body: "LEASES"},
		"/api/x":                             {code: 404},
		"/api":                               {code: 404},
		"/console/":                          {code: 404},
	})
	// A non-canonical form of an own route is the mux's: it redirects to
	// the clean one (for people and tools), never the store's.
	if code, loc, _ := rawRequest(t, addr, "GET", "//metrics"); code/100 != 3 || loc != "/metrics" {
		t.Errorf("GET //metrics: %d Location %q, want a redirect to /metrics", code, loc)
	}
}

// TestImagesPathCustom: the store moves to another prefix, and /images/
// is no longer it.
func TestImagesPathCustom(t *testing.T) {
	addr := newImagesHTTP(t, Config{ImagesPath: "/boot/efi/"})
	checkPaths(t, addr, map[string]pathCase{
		"/boot/efi/a.txt": {code: 200, body: "A-FILE"},
		"/boot//efi//debian-installer/amd64//grubx64.efi": {code: 200, body: "GRUB-EFI"},
		"/boot/./efi/a.txt":      {code: 200, body: "A-FILE"},
		"/boot/efi/../efi/a.txt": {code: 404},
		"/boot/a.txt":            {code: 404},
		"/images/a.txt":          {code: 404},
		"/metrics":               {code: 200},
	})
}
