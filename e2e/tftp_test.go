package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tftpTarget is host and port of bootsrv's TFTP service, as clients want them.
func tftpTarget(p *bootsrvProc) (string, string) {
	return "127.0.0.1", strconv.Itoa(p.Port("tftp"))
}

// TestTFTPClients fetches a random ~3 MiB file with every real client and
// compares sha256 sums.
func TestTFTPClients(t *testing.T) {
	data := randomBytes(3<<20 + 12345)
	want := sha256Hex(data)
	p := startBootsrv(t, bootsrvOpts{Files: map[string][]byte{"boot/image.bin": data}})
	host, port := tftpTarget(p)
	url := "tftp://" + host + ":" + port + "/boot/image.bin"
	tests := map[string]struct {
		tool string
		args func(out string) []string
	}{
		"curl blksize 512":  {"curl", func(o string) []string { return []string{"-sS", "--tftp-blksize", "512", "-o", o, url} }},
		"curl blksize 1468": {"curl", func(o string) []string { return []string{"-sS", "--tftp-blksize", "1468", "-o", o, url} }},
		"curl blksize 8192": {"curl", func(o string) []string { return []string{"-sS", "--tftp-blksize", "8192", "-o", o, url} }},
		"tftp-hpa binary": {"tftp", func(o string) []string {
			return []string{"-m", "binary", host, port, "-c", "get", "boot/image.bin", o}
		}},
		"atftp blksize and tsize": {"atftp", func(o string) []string {
			return []string{"--option", "blksize 1468", "--option", "tsize 0", "-g", "-r", "boot/image.bin", "-l", o, host, port}
		}},
		// RFC 7440: atftp 0.8 negotiates windowsize.
		"atftp blksize 1468 windowsize 16": {"atftp", func(o string) []string {
			return []string{"--option", "blksize 1468", "--option", "windowsize 16", "-g", "-r", "boot/image.bin", "-l", o, host, port}
		}},
		"atftp blksize 512 windowsize 64 tsize": {"atftp", func(o string) []string {
			return []string{"--option", "blksize 512", "--option", "windowsize 64", "--option", "tsize 0", "-g", "-r", "boot/image.bin", "-l", o, host, port}
		}},
		"busybox": {"busybox", func(o string) []string {
			return []string{"tftp", "-g", "-r", "boot/image.bin", "-l", o, host, port}
		}},
		"busybox blksize 1468": {"busybox", func(o string) []string {
			return []string{"tftp", "-b", "1468", "-g", "-r", "boot/image.bin", "-l", o, host, port}
		}},
	}
	fetched := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			requireTool(t, tc.tool)
			out := filepath.Join(t.TempDir(), "out")
			if o, err := runTool(t, 60*time.Second, tc.tool, tc.args(out)...); err != nil {
				t.Fatalf("%s: %v\n%s", tc.tool, err, o)
			}
			if got := fileSHA256(t, out); got != want {
				t.Fatalf("sha256 %s, want %s", got, want)
			}
			fetched++
		})
	}
	// The server counts a transfer after its last ACK; clients may exit
	// before that ACK is processed.
	series := `bootsrv_tftp_transfers_total{direction="download",result="ok"}`
	deadline := time.Now().Add(10 * time.Second)
	for p.Metric(t, series) < float64(fetched) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := p.Metric(t, series); got < float64(fetched) {
		t.Errorf("%s = %v, want >= %d", series, got, fetched)
	}
	if got := p.Metric(t, `bootsrv_tftp_bytes_total{direction="download"}`); got < float64(fetched*len(data)) {
		t.Errorf("bytes{read} = %v, want >= %d", got, fetched*len(data))
	}
	if got := p.Metric(t, "bootsrv_tftp_transfers_in_flight"); got != 0 {
		t.Errorf("in flight = %v after all clients finished", got)
	}
	// atftp asked for windowsize: the server's log shows it was used.
	for _, w := range []string{`"windowsize":16`, `"windowsize":64`} {
		if _, err := exec.LookPath("atftp"); err == nil && !strings.Contains(p.Logs(), w) {
			t.Errorf("no transfer logged with %s", w)
		}
	}
	// busybox retries its request fast; each duplicate becomes a transfer
	// of its own, which ends without harm. Show how many there were.
	t.Logf("transfers seen by the server for %d fetches: %d log lines", fetched, strings.Count(p.Logs(), `"message":"tftp transfer"`))
}

// TestTFTPTraversal: names that leave the store are refused with an ERROR
// and a metric, whatever the client.
func TestTFTPTraversal(t *testing.T) {
	requireTool(t, "curl")
	p := startBootsrv(t, bootsrvOpts{Files: map[string][]byte{"ok.txt": []byte("fine\n")}})
	if err := os.Symlink("/etc/passwd", filepath.Join(p.Root, "passwd-link")); err != nil {
		t.Fatal(err)
	}
	host, port := tftpTarget(p)
	names := map[string]string{
		"parent":            "../etc/passwd",
		"deep parent":       "ok/../../../../etc/passwd",
		"absolute outside":  "/etc/passwd",
		"symlink out":       "passwd-link",
		"backslash parent":  `..\..\etc\passwd`,
		"encoded in folder": "boot/../../etc/passwd",
	}
	for name, file := range names {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			// curl normalises ../ in URLs unless told not to.
			o, err := runTool(t, 20*time.Second, "curl", "-sS", "--path-as-is", "-o", out,
				"tftp://"+host+":"+port+"/"+strings.TrimPrefix(file, "/"))
			if file == "/etc/passwd" { // curl drops the leading slash; ask as tftp-hpa does
				if _, lerr := os.Stat("/usr/bin/tftp"); lerr == nil {
					o, err = runTool(t, 20*time.Second, "tftp", "-m", "binary", host, port, "-c", "get", file, out)
					if !strings.Contains(o, "Error code") {
						err = nil
					}
				}
			}
			b, _ := os.ReadFile(out)
			if strings.Contains(string(b), "root:") {
				t.Fatalf("served a file outside the store: %q", b)
			}
			if err == nil && len(b) > 0 {
				t.Fatalf("client succeeded: %s", o)
			}
		})
	}
	if got := p.Metric(t, `bootsrv_tftp_refusals_total{reason="invalid_name"}`); got < 4 {
		t.Errorf("refusals{invalid_name} = %v, want >= 4", got)
	}
	if got := p.Metric(t, `bootsrv_tftp_transfers_total{direction="download",result="ok"}`); got != 0 {
		t.Errorf("a traversal attempt became a transfer: %v", got)
	}
	if strings.Contains(p.Logs(), "root:x:") {
		t.Error("passwd content in the logs")
	}
}

// TestTFTPWrite uploads with allow_write on, then checks nothing is
// overwritten and writes stay in the upload folder.
func TestTFTPWrite(t *testing.T) {
	p := startBootsrv(t, bootsrvOpts{Config: "tftp:\n  allow_write: true\n",
		Files: map[string][]byte{"boot.bin": []byte("original boot file")}})
	host, port := tftpTarget(p)
	dir := t.TempDir()
	first, second := randomBytes(300_000), randomBytes(1000)
	os.WriteFile(filepath.Join(dir, "first"), first, 0o644)
	os.WriteFile(filepath.Join(dir, "second"), second, 0o644)
	stored := func(name string) string { return filepath.Join(p.Root, "incoming", name) }

	t.Run("tftp-hpa put", func(t *testing.T) {
		requireTool(t, "tftp")
		if o, err := runTool(t, 30*time.Second, "tftp", "-m", "binary", host, port, "-c", "put", filepath.Join(dir, "first"), "r1-confg"); err != nil || strings.Contains(o, "Error") {
			t.Fatalf("put: %v %s", err, o)
		}
		if got := fileSHA256(t, stored("r1-confg")); got != sha256Hex(first) {
			t.Fatal("stored upload differs")
		}
		o, _ := runTool(t, 30*time.Second, "tftp", "-m", "binary", host, port, "-c", "put", filepath.Join(dir, "second"), "r1-confg")
		if !strings.Contains(o, "Error code 6") {
			t.Errorf("second put over the same name: %q, want Error code 6", o)
		}
		if got := fileSHA256(t, stored("r1-confg")); got != sha256Hex(first) {
			t.Fatal("upload was overwritten")
		}
	})
	t.Run("atftp put", func(t *testing.T) {
		requireTool(t, "atftp")
		if o, err := runTool(t, 30*time.Second, "atftp", "--option", "blksize 1468", "-p", "-r", "r2-confg", "-l", filepath.Join(dir, "first"), host, port); err != nil {
			t.Fatalf("put: %v %s", err, o)
		}
		if got := fileSHA256(t, stored("r2-confg")); got != sha256Hex(first) {
			t.Fatal("stored upload differs")
		}
		if o, err := runTool(t, 30*time.Second, "atftp", "-p", "-r", "r2-confg", "-l", filepath.Join(dir, "second"), host, port); err == nil {
			t.Errorf("atftp overwrote: %s", o)
		}
		if got := fileSHA256(t, stored("r2-confg")); got != sha256Hex(first) {
			t.Fatal("upload was overwritten")
		}
	})
	t.Run("curl put outside the upload folder", func(t *testing.T) {
		requireTool(t, "curl")
		runTool(t, 30*time.Second, "curl", "-sS", "--path-as-is", "-T", filepath.Join(dir, "second"), "tftp://"+host+":"+port+"/../boot.bin")
		if b, _ := os.ReadFile(filepath.Join(p.Root, "boot.bin")); string(b) != "original boot file" {
			t.Fatal("write escaped the upload folder")
		}
		// A plain name lands in incoming/, never next to the boot files.
		if o, err := runTool(t, 30*time.Second, "curl", "-sS", "-T", filepath.Join(dir, "second"), "tftp://"+host+":"+port+"/boot.bin"); err != nil {
			t.Fatalf("curl put: %v %s", err, o)
		}
		if b, _ := os.ReadFile(filepath.Join(p.Root, "boot.bin")); string(b) != "original boot file" {
			t.Fatal("write replaced a boot file")
		}
		if got := fileSHA256(t, stored("boot.bin")); got != sha256Hex(second) {
			t.Fatal("curl upload differs")
		}
	})
	if got := p.Metric(t, `bootsrv_tftp_refusals_total{reason="exists"}`); got < 1 {
		t.Errorf("refusals{exists} = %v", got)
	}
	if got := p.Metric(t, `bootsrv_tftp_transfers_total{direction="upload",result="ok"}`); got < 2 {
		t.Errorf("transfers{write,ok} = %v", got)
	}
}
