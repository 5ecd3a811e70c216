package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLineContract drives the binary as users' scripts do (DESIGN.md).
func TestCommandLineContract(t *testing.T) {
	out, err := exec.Command(binPath, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "bootsrv ") {
		t.Errorf("bootsrv version: %v %q", err, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("images:\n  root: /tmp\nno_such_key: 1\n"), 0o644)
	out, err = exec.Command(binPath, "check", "-config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":3") || !strings.Contains(string(out), "no_such_key") {
		t.Errorf("check with an unknown key: err=%v output %q; want non-zero exit naming file:3 and the key", err, out)
	}
	// A config error must come before any socket: run with a bad value on a
	// port that is taken and see the config error, not a bind error.
	out, err = exec.Command(binPath, "-config", bad, "-http-addr", "127.0.0.1:1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no_such_key") {
		t.Errorf("serve with a bad config: err=%v %q", err, out)
	}

	out, err = exec.Command(binPath, "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-tftp-addr") || !strings.Contains(string(out), "bootsrv check") {
		t.Errorf("bootsrv -h: %v %q", err, out)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	p := startBootsrv(t, bootsrvOpts{})
	resp, err := http.Get("http://" + p.Addr("http") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz = %d, want 200", resp.StatusCode)
	}
	m := p.MetricsText(t)
	for _, want := range []string{"bootsrv_build_info{", "go_goroutines", "process_resident_memory_bytes", "bootsrv_tftp_", "bootsrv_ftp_"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestServiceOff(t *testing.T) {
	p := startBootsrv(t, bootsrvOpts{Args: []string{"-tftp-addr", "off", "-ftp-addr", "off"}})
	if _, ok := p.addrs["tftp"]; ok {
		t.Error("tftp listening although -tftp-addr off")
	}
	if _, ok := p.addrs["ftp"]; ok {
		t.Error("ftp listening although -ftp-addr off")
	}
	resp, err := http.Get("http://" + p.Addr("http") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz with services off = %d, want 200", resp.StatusCode)
	}
}

func TestConsoleLogFormat(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binPath, "-root", dir, "-log-format", "console", "-tftp-addr", "127.0.0.1:0",
		"-ftp-addr", "off", "-http-addr", "off", "-log-level", "bogus")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-log-level") {
		t.Errorf("bad -log-level: err=%v %q; want an error naming the flag", err, out)
	}
}
