package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFTPZeroCopy attaches strace to bootsrv during a curl -T upload and a
// curl download of 32 MiB as a named user: the upload's data must move
// with splice(2) (socket -> pipe -> partial file) and the download's with
// sendfile(2), not through read/write in user space.
func TestFTPZeroCopy(t *testing.T) {
	requireTool(t, "curl")
	strace := requireTool(t, "strace")
	p, url := startFTP(t, nil)
	src := filepath.Join(t.TempDir(), "src.bin")
	data := randomBytes(32 << 20)
	os.WriteFile(src, data, 0o644)

	summary := filepath.Join(t.TempDir(), "strace.txt")
	st := exec.Command(strace, "-f", "-c", "-o", summary, "-e", "trace=splice,sendfile,copy_file_range",
		"-p", strconv.Itoa(p.cmd.Process.Pid))
	stderr, err := st.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	defer st.Process.Kill()
	// strace reports each attached thread on stderr; the first line means
	// it is tracing.
	attached := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case attached <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-attached:
		if !strings.Contains(l, "attached") {
			t.Skipf("strace cannot attach: %s", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("strace did not attach")
	}
	if o, err := runTool(t, time.Minute, "curl", "-sS", "-u", "netops:secret", "-T", src, url+"/up.bin"); err != nil {
		t.Fatalf("curl -T: %v %s", err, o)
	}
	if o, err := runTool(t, time.Minute, "curl", "-sS", "-o", os.DevNull, url+"/up.bin"); err != nil {
		t.Fatalf("curl download: %v %s", err, o)
	}
	st.Process.Signal(syscall.SIGINT)
	st.Wait()
	if fileSHA256(t, filepath.Join(p.Root, "up.bin")) != sha256Hex(data) {
		t.Fatal("upload differs")
	}
	out, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("strace -c:\n%s", out)
	calls := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 {
			if n, err := strconv.Atoi(f[3]); err == nil {
				calls[f[len(f)-1]] = n
			}
		}
	}
	// 512 KiB chunks: at least 64 calls each for 32 MiB.
	if calls["splice"] < 64 {
		t.Errorf("upload: %d splice calls, want zero-copy receive", calls["splice"])
	}
	if calls["sendfile"] < 64 {
		t.Errorf("download: %d sendfile calls, want zero-copy send", calls["sendfile"])
	}
}
