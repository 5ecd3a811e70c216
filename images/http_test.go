package images

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newTestMux mounts the handler the way cmd/bootsrv does.
func newTestMux(s *Store) *http.ServeMux {
	mux := http.NewServeMux()
	h := http.StripPrefix("/images/", s.Handler())
	mux.Handle("GET /images/", h)
	mux.Handle("HEAD /images/", h)
	return mux
}

func TestHTTPHandler(t *testing.T) {
	body := strings.Repeat("0123456789", 100) // 1000 bytes
	s, dir := newTestStore(t, map[string]string{
		"boot/ipxe.efi": body,
		"boot.ipxe":     "#!ipxe\n",
		"sub/dir/x":     "x",
		"incoming/keep": "",
	})
	outside := filepath.Join(t.TempDir(), "secret")
	must(t, os.WriteFile(outside, []byte("SECRET"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(dir, "escape")))
	must(t, os.Symlink("boot/ipxe.efi", filepath.Join(dir, "alias.efi")))
	must(t, os.WriteFile(filepath.Join(dir, TempPrefix+"upload-123"), []byte("SECRET"), 0o644))
	up, err := s.Create("incoming/partial.img", 1<<20)
	must(t, err)
	t.Cleanup(func() { up.Abort() })
	_, err = up.Write([]byte("SECRET partial"))
	must(t, err)
	mux := newTestMux(s)

	tests := map[string]struct {
		method, target string
		header         map[string]string
		code           int
		body           string // exact body when code is 200 or 206
		contentRange   string
	}{
		"full GET":          {"GET", "/images/boot/ipxe.efi", nil, 200, body, ""},
		"inside symlink":    {"GET", "/images/alias.efi", nil, 200, body, ""},
		"double slash":      {"GET", "/images//boot.ipxe", nil, 307, "", ""}, // the mux redirects to the clean path
		"range":             {"GET", "/images/boot/ipxe.efi", map[string]string{"Range": "bytes=100-199"}, 206, body[100:200], "bytes 100-199/1000"},
		"suffix range":      {"GET", "/images/boot/ipxe.efi", map[string]string{"Range": "bytes=-10"}, 206, body[990:], "bytes 990-999/1000"},
		"open range":        {"GET", "/images/boot/ipxe.efi", map[string]string{"Range": "bytes=995-"}, 206, body[995:], "bytes 995-999/1000"},
		"unsatisfiable":     {"GET", "/images/boot/ipxe.efi", map[string]string{"Range": "bytes=1000-"}, 416, "", "bytes */1000"},
		"not modified":      {"GET", "/images/boot/ipxe.efi", map[string]string{"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 304, "", ""},
		"HEAD":              {"HEAD", "/images/boot/ipxe.efi", nil, 200, "", ""},
		"missing":           {"GET", "/images/nope", nil, 404, "", ""},
		"directory":         {"GET", "/images/sub", nil, 404, "", ""},
		"directory slash":   {"GET", "/images/sub/", nil, 404, "", ""},
		"root":              {"GET", "/images/", nil, 404, "", ""},
		"escaping symlink":  {"GET", "/images/escape", nil, 404, "", ""},
		"temp name":         {"GET", "/images/" + TempPrefix + "upload-123", nil, 404, "", ""},
		"encoded temp name": {"GET", "/images/%2ebootsrv-upload-123", nil, 404, "", ""},
		"backslash dotdot":  {"GET", `/images/sub\..\..\escape`, nil, 404, "", ""},
		"encoded backslash": {"GET", "/images/sub%5c..%5c..%5cescape", nil, 404, "", ""},
		"partial upload":    {"GET", "/images/incoming/partial.img", nil, 404, "", ""},
		"POST":              {"POST", "/images/boot/ipxe.efi", nil, 405, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			got := rec.Body.String()
			if rec.Code != tc.code {
				t.Fatalf("%s %s: code %d, want %d (body %q)", tc.method, tc.target, rec.Code, tc.code, got)
			}
			if strings.Contains(got, "SECRET") || strings.Contains(got, dir) {
				t.Fatalf("body leaks: %q", got)
			}
			if (tc.code == 200 || tc.code == 206) && got != tc.body {
				t.Fatalf("body %d bytes, want %d", len(got), len(tc.body))
			}
			if cr := rec.Header().Get("Content-Range"); cr != tc.contentRange {
				t.Fatalf("Content-Range %q, want %q", cr, tc.contentRange)
			}
		})
	}
}

// TestHTTPHandlerRefusesTraversal calls the handler directly, without the
// mux's path cleaning in front, so Clean alone must refuse every form.
func TestHTTPHandlerRefusesTraversal(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"a/b": "ok"})
	outside := filepath.Join(filepath.Dir(dir), "secret-"+filepath.Base(dir))
	must(t, os.WriteFile(outside, []byte("SECRET"), 0o644))
	t.Cleanup(func() { os.Remove(outside) })
	rel := "secret-" + filepath.Base(dir)
	h := http.StripPrefix("/images/", s.Handler())
	for _, target := range []string{
		"/images/../" + rel,
		"/images/%2e%2e/" + rel,
		"/images/%2E%2E%2F" + rel,
		"/images/a/../../" + rel,
		`/images/..\` + rel,
		"/images/..%5c" + rel,
		"/images/a/%2e%2e/%2e%2e/" + rel,
		"/images//../" + rel,
		"/images/a/b%00",
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.RawPath = ""
		req.URL.Path = mustUnescape(t, target)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "SECRET") {
			t.Errorf("%s: code %d body %q, want 404", target, rec.Code, rec.Body.String())
		}
	}
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	u, err := req.URL.Parse(s)
	must(t, err)
	return u.Path
}

func TestHTTPHandlerHEADAndHeaders(t *testing.T) {
	s, _ := newTestStore(t, map[string]string{"k/vmlinuz": strings.Repeat("k", 4096), "c.json": "{}"})
	srv := httptest.NewServer(newTestMux(s))
	defer srv.Close()
	resp, err := http.Head(srv.URL + "/images/k/vmlinuz")
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != 4096 ||
		resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("Last-Modified") == "" ||
		resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("HEAD: %d len %d body %d headers %v", resp.StatusCode, resp.ContentLength, len(b), resp.Header)
	}
	resp, err = http.Get(srv.URL + "/images/c.json")
	must(t, err)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}
