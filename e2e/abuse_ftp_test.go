package e2e

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bootsrv/bootsrv/images"
)

// abuseConfig: netops/secret writes everywhere, anonymous FTP may upload
// into the upload folder, TFTP may write there too; uploads_readable is
// left at its default (false).
func abuseConfig(t *testing.T, extra string) string {
	t.Helper()
	h := secretHash(t)
	return fmt.Sprintf(`tftp:
  allow_write: true
ftp:
  passive_ports: 42000-42999
  anonymous: {upload: true}
  users:
    - {name: netops, password_hash: %q, root: /, write: true}
%s`, h, extra)
}

// fileSize is the size of path, or -1.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// TestFTPAbuseKilledUploads: 20 curl -T uploads of 50 MB (10 anonymous
// into the upload folder, 10 by a user with write) are killed with
// SIGKILL at random moments once data is moving. None may appear under
// its final name, on disk or over FTP; the user's partials stay and one
// is resumed with curl -C - -T to the byte. Then the upload area is read
// over TFTP, HTTP and anonymous FTP (refused) and by the user (allowed).
func TestFTPAbuseKilledUploads(t *testing.T) {
	requireTool(t, "curl")
	p := startBootsrv(t, bootsrvOpts{Config: abuseConfig(t, ""),
		Files: map[string][]byte{"up/.keep": nil, "incoming/.keep": nil}})
	ftpURL := "ftp://" + p.Addr("ftp")
	src := filepath.Join(t.TempDir(), "fw.bin")
	data := randomBytes(50 << 20)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}

	type upload struct {
		name, partial string // store names
		cmd           *exec.Cmd
	}
	var ups []*upload
	for i := range 10 {
		for _, named := range []bool{false, true} {
			u := &upload{name: fmt.Sprintf("incoming/a%d.bin", i)}
			args := []string{"-sS", "--limit-rate", "8M", "-T", src}
			if named {
				u.name = fmt.Sprintf("up/n%d.bin", i)
				u.partial = images.PartialName(u.name, "netops")
				args = append(args, "-u", "netops:secret")
			}
			u.cmd = exec.Command("curl", append(args, ftpURL+"/"+u.name)...)
			if err := u.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ups = append(ups, u)
		}
	}
	t.Cleanup(func() {
		for _, u := range ups {
			if u.cmd.ProcessState == nil {
				u.cmd.Process.Kill()
				u.cmd.Wait()
			}
		}
	})
	// Data is moving into every upload's hidden file before any kill.
	waitFor(t, time.Minute, "every upload receiving data", func() bool {
		anon, _ := filepath.Glob(filepath.Join(p.Root, "incoming", images.TempPrefix+"up-*"))
		moving := 0
		for _, f := range anon {
			if fileSize(f) > 0 {
				moving++
			}
		}
		for _, u := range ups {
			if u.partial != "" && fileSize(filepath.Join(p.Root, u.partial)) > 0 {
				moving++
			}
		}
		return moving == len(ups)
	})
	for _, i := range rand.Perm(len(ups)) {
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond) // a random moment
		ups[i].cmd.Process.Signal(syscall.SIGKILL)
		ups[i].cmd.Wait()
	}
	waitFor(t, time.Minute, "sessions closed", func() bool {
		return p.Metric(t, "bootsrv_ftp_sessions_active") == 0 && p.Metric(t, "bootsrv_ftp_transfers_in_flight") == 0
	})

	var committed []string
	for _, u := range ups {
		if fileSize(filepath.Join(p.Root, u.name)) >= 0 {
			committed = append(committed, fmt.Sprintf("%s (%d bytes)", u.name, fileSize(filepath.Join(p.Root, u.name))))
		}
	}
	if len(committed) > 0 {
		t.Errorf("%d of %d killed uploads are under their final names: %v", len(committed), len(ups), committed)
	}
	if left, _ := filepath.Glob(filepath.Join(p.Root, "incoming", images.TempPrefix+"*")); len(left) > 0 {
		t.Errorf("killed anonymous uploads left %d hidden files", len(left))
	}
	for _, u := range ups {
		if u.partial != "" && fileSize(filepath.Join(p.Root, u.partial)) <= 0 {
			t.Errorf("%s: no partial to resume", u.name)
		}
	}
	for _, dir := range []string{"up/", "incoming/"} {
		out, err := runTool(t, time.Minute, "curl", "-sS", "-u", "netops:secret", "--list-only", ftpURL+"/"+dir)
		if err != nil {
			t.Fatalf("listing %s as netops: %v %s", dir, err, out)
		}
		for _, name := range strings.Fields(out) {
			if strings.HasSuffix(name, ".bin") {
				t.Errorf("listing %s as netops shows %s", dir, name)
			}
		}
	}
	if t.Failed() {
		return
	}

	// The owner resumes one: curl asks SIZE and sends the rest (APPE).
	first := ups[1] // named
	before := fileSize(filepath.Join(p.Root, first.partial))
	if out, err := runTool(t, 2*time.Minute, "curl", "-sS", "-u", "netops:secret", "-C", "-", "-T", src, ftpURL+"/"+first.name); err != nil {
		t.Fatalf("curl -C - -T: %v %s", err, out)
	}
	if fileSHA256(t, filepath.Join(p.Root, first.name)) != sha256Hex(data) {
		t.Fatal("resumed upload differs from the source")
	}
	t.Logf("%s resumed after %d of %d bytes", first.name, before, len(data))

	checkUploadAreaRefused(t, p)
}

// checkUploadAreaRefused stores a switch's config backup by TFTP into the
// upload folder, then reads it over every protocol: only the FTP user
// with write gets it.
func checkUploadAreaRefused(t *testing.T, p *bootsrvProc) {
	t.Helper()
	host, port := tftpTarget(p)
	backup := filepath.Join(t.TempDir(), "sw1-confg")
	secret := "snmp-server community s3cr3t RW\nenable secret 5 $1$abcd$x\n"
	os.WriteFile(backup, []byte(secret), 0o644)
	if out, err := runTool(t, 30*time.Second, "curl", "-sS", "-T", backup, "tftp://"+host+":"+port+"/sw1-confg"); err != nil {
		t.Fatalf("TFTP put of the backup: %v %s", err, out)
	}
	ftpURL := "ftp://" + p.Addr("ftp") + "/incoming/sw1-confg"
	// curl's exit codes: 68 TFTP file not found, 22 HTTP error (404
	// here), 78 FTP remote file not found.
	refused := map[string]struct {
		args []string
		exit int
	}{
		"tftp":          {[]string{"-sS", "tftp://" + host + ":" + port + "/incoming/sw1-confg"}, 68},
		"http":          {[]string{"-sS", "-f", "-o", os.DevNull, "-w", "%{http_code}", "http://" + p.Addr("http") + "/images/incoming/sw1-confg"}, 22},
		"anonymous ftp": {[]string{"-sS", ftpURL}, 78},
	}
	for name, r := range refused {
		out, err := runTool(t, 30*time.Second, "curl", r.args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != r.exit || strings.Contains(out, "s3cr3t") {
			t.Errorf("%s: %v %q, want curl exit %d", name, err, out, r.exit)
		}
		if name == "http" && !strings.HasSuffix(out, "404") {
			t.Errorf("http: status %q, want 404", out)
		}
	}
	out, err := runTool(t, 30*time.Second, "curl", "-sS", "-u", "netops:secret", ftpURL)
	if err != nil || out != secret {
		t.Errorf("netops reading the backup: %v %q", err, out)
	}
}

// TestFTPAbuseFDExhaustion runs bootsrv with 200 file descriptors and
// opens idle connections to FTP until accepting fails with EMFILE; once
// some are closed, a real client is served, the process is alive and
// /healthz answers.
func TestFTPAbuseFDExhaustion(t *testing.T) {
	requireTool(t, "curl")
	limits := "  limits: {max_sessions: 5000, max_sessions_per_ip: 5000}\n"
	p := startBootsrv(t, bootsrvOpts{Config: abuseConfig(t, limits),
		Files: map[string][]byte{"hello.txt": []byte("hello\n")}})
	pid := p.cmd.Process.Pid
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 200, Max: 200}, nil); err != nil {
		t.Skipf("prlimit: %v", err)
	}
	openFDs := func() int {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		return len(ents)
	}
	began := time.Now()
	var idle []net.Conn
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	for range 400 {
		c, err := net.DialTimeout("tcp", p.Addr("ftp"), 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		idle = append(idle, c)
	}
	waitFor(t, time.Minute, "bootsrv out of descriptors", func() bool { return openFDs() >= 199 })
	waitFor(t, time.Minute, "accept failing", func() bool { return strings.Contains(p.Logs(), "ftp accept failed") })
	for _, c := range idle[:300] {
		c.Close()
	}
	idle = idle[300:]

	out, err := runTool(t, time.Minute, "curl", "-sS", "ftp://"+p.Addr("ftp")+"/hello.txt")
	if err != nil || out != "hello\n" {
		t.Fatalf("curl after the descriptor shortage: %v %q\n%s", err, out, p.Logs())
	}
	if err := p.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("bootsrv is gone: %v", err)
	}
	resp, err := http.Get("http://" + p.Addr("http") + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
	}
	failed := p.Metric(t, "bootsrv_ftp_accept_errors_total")
	if failed == 0 {
		t.Fatal("bootsrv_ftp_accept_errors_total = 0: accept never failed")
	}
	lines := strings.Count(p.Logs(), "ftp accept failed")
	if limit := int(time.Since(began)/time.Second) + 3; lines > limit {
		t.Errorf("%d accept error log lines in %v: not sampled", lines, time.Since(began))
	}
	t.Logf("%v accept errors, %d log lines", failed, lines)
}
