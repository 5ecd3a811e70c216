package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHTTPBoot fetches from /images/ with curl and wget as iPXE and UEFI
// HTTP boot clients would: whole files, a byte range, resumed downloads,
// and traversal attempts that must not leave the store.
func TestHTTPBoot(t *testing.T) {
	requireTool(t, "curl")
	data := randomBytes(5<<20 + 4321)
	want := sha256Hex(data)
	base := t.TempDir()
	root := filepath.Join(base, "images")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte("SECRET-OUTSIDE"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "secret"), filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	p := startBootsrv(t, bootsrvOpts{Root: root, Files: map[string][]byte{
		"efi/boot.efi":           data,
		".bootsrv-up-0123456789": []byte("SECRET-TEMP"),
	}})
	url := "http://" + p.Addr("http") + "/images/efi/boot.efi"

	t.Run("curl full", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		if o, err := runTool(t, 60*time.Second, "curl", "-sSf", "-o", out, url); err != nil {
			t.Fatalf("curl: %v\n%s", err, o)
		}
		if got := fileSHA256(t, out); got != want {
			t.Fatalf("sha256 %s, want %s", got, want)
		}
	})
	t.Run("curl range", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		code, err := runTool(t, 30*time.Second, "curl", "-sSf", "-r", "100-199", "-w", "%{http_code}", "-o", out, url)
		if err != nil || code != "206" {
			t.Fatalf("curl -r: %v, code %q", err, code)
		}
		got, _ := os.ReadFile(out)
		if string(got) != string(data[100:200]) {
			t.Fatalf("range body %d bytes differs from bytes 100-199", len(got))
		}
	})
	t.Run("curl resume", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		if err := os.WriteFile(out, data[:1<<20+17], 0o644); err != nil {
			t.Fatal(err)
		}
		if o, err := runTool(t, 60*time.Second, "curl", "-sSf", "-C", "-", "-o", out, url); err != nil {
			t.Fatalf("curl -C -: %v\n%s", err, o)
		}
		if got := fileSHA256(t, out); got != want {
			t.Fatalf("resumed sha256 %s, want %s", got, want)
		}
	})
	t.Run("curl HEAD", func(t *testing.T) {
		o, err := runTool(t, 30*time.Second, "curl", "-sSfI", url)
		if err != nil || !strings.Contains(o, "Content-Length: 5247201") || !strings.Contains(o, "Accept-Ranges: bytes") {
			t.Fatalf("curl -I: %v\n%s", err, o)
		}
	})
	t.Run("traversal", func(t *testing.T) {
		for _, path := range []string{
			"/images/../secret",
			"/images/%2e%2e/secret",
			"/images/%2E%2E%2Fsecret",
			"/images/efi/..%2f..%2fsecret",
			`/images/..\secret`,
			"/images/..%5csecret",
			"/images/escape",
			"/images/.bootsrv-up-0123456789",
			"/images/%2ebootsrv-up-0123456789",
			"/images/efi/",
			"/images/",
		} {
			out := filepath.Join(t.TempDir(), "out")
			code, err := runTool(t, 30*time.Second, "curl", "-sS", "--path-as-is", "-g", "-w", "%{http_code}", "-o", out, "http://"+p.Addr("http")+path)
			if err != nil {
				t.Fatalf("curl %s: %v %s", path, err, code)
			}
			body, _ := os.ReadFile(out)
			if code == "200" || strings.Contains(string(body), "SECRET") || strings.Contains(string(body), base) {
				t.Errorf("%s: code %s body %q", path, code, body)
			}
		}
	})
	t.Run("wget full and resume", func(t *testing.T) {
		requireTool(t, "wget")
		dir := t.TempDir()
		out := filepath.Join(dir, "full")
		if o, err := runTool(t, 60*time.Second, "wget", "-q", "-O", out, url); err != nil {
			t.Fatalf("wget: %v\n%s", err, o)
		}
		if got := fileSHA256(t, out); got != want {
			t.Fatalf("wget sha256 %s, want %s", got, want)
		}
		part := filepath.Join(dir, "boot.efi")
		if err := os.WriteFile(part, data[:3<<20], 0o644); err != nil {
			t.Fatal(err)
		}
		if o, err := runTool(t, 60*time.Second, "wget", "-q", "-c", "-P", dir, url); err != nil {
			t.Fatalf("wget -c: %v\n%s", err, o)
		}
		if got := fileSHA256(t, part); got != want {
			t.Fatalf("wget -c sha256 %s, want %s", got, want)
		}
		o, _ := runTool(t, 30*time.Second, "wget", "-O", filepath.Join(dir, "x"), "http://"+p.Addr("http")+"/images/%2e%2e/secret")
		if !strings.Contains(o, "404") {
			t.Fatalf("wget traversal: want 404\n%s", o)
		}
	})
}

// TestHTTPBootOff: with http.images false, /images/ is not served.
func TestHTTPBootOff(t *testing.T) {
	requireTool(t, "curl")
	p := startBootsrv(t, bootsrvOpts{
		Config: "http:\n  images: false\n",
		Files:  map[string][]byte{"a": []byte("a")},
	})
	code, err := runTool(t, 30*time.Second, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://"+p.Addr("http")+"/images/a")
	if err != nil || code != "404" {
		t.Fatalf("curl: %v code %q, want 404", err, code)
	}
}

// TestHTTPBootSendfile attaches strace to bootsrv during a 32 MiB curl GET
// of /images/: the body must leave with sendfile(2) (Go sends at most
// 4 MiB per call), not through read/write in user space.
func TestHTTPBootSendfile(t *testing.T) {
	requireTool(t, "curl")
	data := randomBytes(32 << 20)
	p := startBootsrv(t, bootsrvOpts{Files: map[string][]byte{"big.img": data}})
	strace := countSyscalls(t, p, "sendfile")
	out := filepath.Join(t.TempDir(), "out")
	if o, err := runTool(t, time.Minute, "curl", "-sSf", "-o", out, "http://"+p.Addr("http")+"/images/big.img"); err != nil {
		t.Fatalf("curl: %v %s", err, o)
	}
	calls := strace.stop(t)["sendfile"]
	if fileSHA256(t, out) != sha256Hex(data) {
		t.Fatal("download differs")
	}
	if calls < 8 {
		t.Errorf("%d sendfile calls for 32 MiB, want zero-copy send", calls)
	}
}
