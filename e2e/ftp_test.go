package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ftpConfig has a writing user netops/secret and anonymous read-only.
func ftpConfig(t *testing.T) string {
	t.Helper()
	h := secretHash(t)
	return fmt.Sprintf(`ftp:
  passive_ports: 41000-41999
  users:
    - {name: netops, password_hash: %q, root: /, write: true}
`, h)
}

func startFTP(t *testing.T, files map[string][]byte) (*bootsrvProc, string) {
	t.Helper()
	p := startBootsrv(t, bootsrvOpts{Config: ftpConfig(t), Files: files})
	return p, "ftp://" + p.Addr("ftp")
}

func TestFTPCurl(t *testing.T) {
	requireTool(t, "curl")
	big := randomBytes(3<<20 + 17)
	p, url := startFTP(t, map[string][]byte{"fw/big.bin": big, "up/.keep": nil})
	out := t.TempDir()
	for name, args := range map[string][]string{
		"passive": {},
		"active":  {"--ftp-port", "-"},
	} {
		dst := filepath.Join(out, name)
		if o, err := runTool(t, time.Minute, "curl", append(args, "-sS", "-o", dst, url+"/fw/big.bin")...); err != nil {
			t.Fatalf("curl %s: %v %s", name, err, o)
		}
		if fileSHA256(t, dst) != sha256Hex(big) {
			t.Fatalf("curl %s: content differs", name)
		}
	}
	// Resume a download: keep the first MiB, let curl -C - fetch the rest.
	part := filepath.Join(out, "part")
	os.WriteFile(part, big[:1<<20], 0o644)
	if o, err := runTool(t, time.Minute, "curl", "-sS", "-C", "-", "-o", part, url+"/fw/big.bin"); err != nil {
		t.Fatalf("curl -C - download: %v %s", err, o)
	}
	if fileSHA256(t, part) != sha256Hex(big) {
		t.Fatal("resumed download differs")
	}
	// Upload, then resume an upload whose first half arrived earlier.
	src := filepath.Join(out, "src")
	os.WriteFile(src, big, 0o644)
	auth := []string{"-u", "netops:secret"}
	if o, err := runTool(t, time.Minute, "curl", append(auth, "-sS", "-T", src, url+"/up/a.bin")...); err != nil {
		t.Fatalf("curl -T: %v %s", err, o)
	}
	if fileSHA256(t, filepath.Join(p.Root, "up/a.bin")) != sha256Hex(big) {
		t.Fatal("uploaded file differs")
	}
	if o, err := runTool(t, time.Minute, "curl", append(auth, "-sS", "-T", src, url+"/up/a.bin")...); err == nil {
		t.Fatalf("overwrite upload succeeded: %s", o)
	}
	half := filepath.Join(out, "half")
	os.WriteFile(half, big[:1<<20], 0o644)
	// A first upload of half the file, cut by ABOR via curl's --max-filesize is
	// not possible for uploads; emulate the interruption with a partial APPE.
	if o, err := runTool(t, time.Minute, "curl", append(auth, "-sS", "--ftp-create-dirs", "-a", "-T", half, url+"/up/b.bin")...); err != nil {
		t.Fatalf("curl -a: %v %s", err, o)
	}
	if o, err := runTool(t, time.Minute, "curl", append(auth, "-sS", "-C", "-", "-T", src, url+"/up/c.bin")...); err != nil {
		t.Fatalf("curl -C - -T fresh: %v %s", err, o)
	}
	if fileSHA256(t, filepath.Join(p.Root, "up/c.bin")) != sha256Hex(big) {
		t.Fatal("curl -C - -T upload differs")
	}
	if got := p.Metric(t, `bootsrv_ftp_transfers_total{direction="download",result="ok"}`); got < 3 {
		t.Errorf("download transfers metric = %v", got)
	}
}

// TestFTPResumeUpload interrupts an upload with python's ftplib (ABOR after
// half the data), checks the partial is invisible to anonymous FTP, then
// resumes with curl -C - -T and with lftp reput.
func TestFTPResumeUpload(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "curl")
	data := randomBytes(2 << 20)
	p, url := startFTP(t, map[string][]byte{"up/.keep": nil})
	host, port := splitHostPort(t, p.Addr("ftp"))
	script := fmt.Sprintf(`
import ftplib, sys
f = ftplib.FTP()
f.connect(%q, %s)
f.login("netops", "secret")
f.voidcmd("TYPE I")
c = f.transfercmd("STOR up/r.bin")
c.sendall(open(sys.argv[1], "rb").read()[:1048576])
r = f.abort()
if r.startswith("426"):
    f.voidresp()  # RFC 959: 426 for the transfer, then 226 for ABOR
c.close()
print(f.sendcmd("SIZE up/r.bin"))
f.quit()
`, host, port)
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, data, 0o644)
	o, err := runTool(t, time.Minute, "python3", "-c", script, src)
	if err != nil || !strings.Contains(o, "213 ") {
		t.Fatalf("python partial upload: %v %s", err, o)
	}
	if _, err := os.Stat(filepath.Join(p.Root, "up/r.bin")); !os.IsNotExist(err) {
		t.Fatalf("partial upload visible: %v", err)
	}
	if o, err := runTool(t, time.Minute, "curl", "-sS", "-o", "/dev/null", url+"/up/r.bin"); err == nil {
		t.Fatalf("anonymous fetched a partial upload: %s", o)
	}
	if o, err := runTool(t, time.Minute, "curl", "-sS", "-u", "netops:secret", "-C", "-", "-T", src, url+"/up/r.bin"); err != nil {
		t.Fatalf("curl resume upload: %v %s", err, o)
	}
	if fileSHA256(t, filepath.Join(p.Root, "up/r.bin")) != sha256Hex(data) {
		t.Fatal("resumed upload differs")
	}
}

func TestFTPLftp(t *testing.T) {
	requireTool(t, "lftp")
	files := map[string][]byte{"tree/a.bin": randomBytes(70000), "tree/sub/b.bin": randomBytes(5000), "big.bin": randomBytes(1 << 20)}
	p, _ := startFTP(t, files)
	host, port := splitHostPort(t, p.Addr("ftp"))
	dst := t.TempDir()
	os.WriteFile(filepath.Join(dst, "big.bin"), files["big.bin"][:300000], 0o644)
	up := filepath.Join(dst, "up.bin")
	upData := randomBytes(600000)
	os.WriteFile(up, upData, 0o644)
	cmds := fmt.Sprintf("set cmd:fail-exit yes; set net:max-retries 1; open -u netops,secret -p %s %s; "+
		"mirror tree %s/tree; lcd %s; reget big.bin; put up.bin -o up.bin; reput up.bin -o up.bin; bye",
		port, host, dst, dst)
	if o, err := runTool(t, 2*time.Minute, "lftp", "-c", cmds); err != nil {
		t.Fatalf("lftp: %v\n%s\n%s", err, o, p.Logs())
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("lftp %s: differs (%v)", name, err)
		}
	}
	if fileSHA256(t, filepath.Join(p.Root, "up.bin")) != sha256Hex(upData) {
		t.Error("lftp put differs")
	}
}

func TestFTPWgetBusyboxTnftp(t *testing.T) {
	files := map[string][]byte{"m/a.bin": randomBytes(10000), "m/d/b.bin": randomBytes(20000)}
	p, url := startFTP(t, files)
	host, port := splitHostPort(t, p.Addr("ftp"))
	t.Run("wget -m", func(t *testing.T) {
		requireTool(t, "wget")
		dir := t.TempDir()
		if o, err := runTool(t, time.Minute, "wget", "-q", "-m", "-nH", "-P", dir, url+"/m/"); err != nil {
			t.Fatalf("wget: %v %s", err, o)
		}
		for name, data := range files {
			if got, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(got, data) {
				t.Errorf("wget %s differs", name)
			}
		}
	})
	t.Run("busybox", func(t *testing.T) {
		requireTool(t, "busybox")
		dir := t.TempDir()
		dst := filepath.Join(dir, "a.bin")
		if o, err := runTool(t, time.Minute, "busybox", "ftpget", "-P", port, host, dst, "m/a.bin"); err != nil {
			t.Fatalf("ftpget: %v %s", err, o)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, files["m/a.bin"]) {
			t.Error("ftpget differs")
		}
		if o, err := runTool(t, time.Minute, "busybox", "ftpput", "-u", "netops", "-p", "secret", "-P", port, host, "m/put.bin", dst); err != nil {
			t.Fatalf("ftpput: %v %s", err, o)
		}
		if got, _ := os.ReadFile(filepath.Join(p.Root, "m/put.bin")); !bytes.Equal(got, files["m/a.bin"]) {
			t.Error("ftpput differs")
		}
	})
	t.Run("tnftp", func(t *testing.T) {
		requireTool(t, "tnftp")
		dir := t.TempDir()
		cmd := exec.Command("tnftp", "-n", "-p", host, port)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader("user anonymous x\nbinary\nget m/d/b.bin b.bin\nls m\nquit\n")
		o, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tnftp: %v %s", err, o)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "b.bin")); !bytes.Equal(got, files["m/d/b.bin"]) {
			t.Errorf("tnftp get differs: %s", o)
		}
	})
}

// TestFTPRawSequences uses python's ftplib for exact reply codes against
// the built binary.
func TestFTPRawSequences(t *testing.T) {
	requireTool(t, "python3")
	p, _ := startFTP(t, map[string][]byte{"a.txt": []byte("hi")})
	host, port := splitHostPort(t, p.Addr("ftp"))
	o, err := runTool(t, time.Minute, "python3", "testdata/ftp_raw.py", host, port)
	if err != nil {
		t.Fatalf("ftp_raw.py: %v\n%s", err, o)
	}
	t.Log(o)
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("bad addr %q", addr)
	}
	return addr[:i], addr[i+1:]
}
