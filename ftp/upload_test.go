package ftp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bootsrv/bootsrv/images"
)

func writerConfig() Config {
	return Config{Users: []User{
		{Name: "netops", PasswordHash: testHash, Write: true},
		{Name: "other", PasswordHash: testHash, Write: true},
		{Name: "reader", PasswordHash: testHash, Root: "/pub"},
	}}
}

func TestUploadResumeAndVisibility(t *testing.T) {
	ts := newTestServer(t, writerConfig(), map[string]string{"up/": "", "pub/x": "x", "up/existing": "old"})
	c := ts.dial(t)
	c.login("netops", "secret")
	if code := c.stor("STOR", "up/new.bin", []byte("complete")); code != 226 {
		t.Fatalf("STOR = %d", code)
	}
	if got := c.retr("up/new.bin"); string(got) != "complete" {
		t.Fatalf("read back %q", got)
	}
	if code := c.stor("STOR", "up/existing", []byte("new")); code != 550 {
		t.Fatalf("overwrite STOR = %d, want 550", code)
	}

	// An interrupted upload (ABOR) stays hidden; its owner can resume.
	d := c.pasv()
	c.cmd(150, "STOR up/big.bin")
	d.Write([]byte("first-half:"))
	c.send("ABOR")
	code, _ := c.read()
	if code != 426 && code != 226 {
		t.Fatalf("ABOR first reply %d", code)
	}
	if code == 426 {
		c.expect(226)
	}
	d.Close()
	if _, err := os.Stat(filepath.Join(ts.dir, "up/big.bin")); !os.IsNotExist(err) {
		t.Fatalf("aborted upload visible: %v", err)
	}
	size := c.cmd(213, "SIZE up/big.bin")
	other := ts.dial(t)
	other.login("other", "secret")
	other.cmd(550, "SIZE up/big.bin")
	other.cmd(550, "RETR up/big.bin")
	c.cmd(550, "RETR up/big.bin") // not even the owner downloads a partial

	var n int
	// How much arrived before ABOR depends on timing; 0 is legitimate.
	if _, err := fmtSscan(size, &n); err != nil || n < 0 || n > len("first-half:") {
		t.Fatalf("SIZE of partial = %q", size)
	}
	c.cmd(350, "REST %d", n)
	rest := []byte("first-half:second-half")[n:]
	if code := c.stor("STOR", "up/big.bin", rest); code != 226 {
		t.Fatalf("resumed STOR = %d", code)
	}
	data, _ := os.ReadFile(filepath.Join(ts.dir, "up/big.bin"))
	if string(data) != "first-half:second-half" {
		t.Fatalf("resumed file %q", data)
	}

	// APPE resumes too (curl -C - -T).
	c.cmd(550, "SIZE up/appe.bin")
	if code := c.stor("APPE", "up/appe.bin", []byte("abc")); code != 226 {
		t.Fatalf("APPE = %d", code)
	}
	c.cmd(213, "SIZE up/appe.bin")
	assertNoTempFiles(t, filepath.Join(ts.dir, "up"))

	r := ts.dial(t)
	r.login("reader", "secret")
	r.cmd(550, "STOR y")
	r.cmd(550, "DELE x")
	r.cmd(550, "RETR /up/new.bin") // outside the user's root: /pub/up/new.bin
	if got := r.retr("x"); string(got) != "x" {
		t.Fatalf("reader RETR = %q", got)
	}
	c.cmd(257, "MKD up/dir")
	c.cmd(350, "RNFR up/new.bin")
	c.cmd(550, "RNTO up/existing")
	c.cmd(350, "RNFR up/new.bin")
	c.cmd(250, "RNTO up/dir/new.bin")
	c.cmd(250, "DELE up/dir/new.bin")
	c.cmd(250, "RMD up/dir")
}

func TestAnonymousUploadOnly(t *testing.T) {
	cfg := Config{Anonymous: Anonymous{Upload: true}, UploadDir: "incoming"}
	ts := newTestServer(t, cfg, map[string]string{"incoming/secret": "s", "pub": "p"})
	c := ts.dial(t)
	c.login("anonymous", "x")
	if code := c.stor("STOR", "incoming/cfg.txt", []byte("cfg")); code != 226 {
		t.Fatalf("anonymous STOR = %d", code)
	}
	data, _ := os.ReadFile(filepath.Join(ts.dir, "incoming/cfg.txt"))
	if string(data) != "cfg" {
		t.Fatalf("uploaded %q", data)
	}
	c.cmd(550, "STOR incoming/cfg.txt") // no overwrite
	c.cmd(550, "RETR incoming/cfg.txt") // no read-back
	c.cmd(550, "SIZE incoming/secret")
	c.cmd(550, "STOR pub2") // only into the upload folder
	c.cmd(550, "DELE incoming/cfg.txt")
	c.cmd(350, "REST 1")
	c.cmd(550, "STOR incoming/r")
	c.cmd(550, "APPE incoming/r")
	c.cmd(250, "CWD incoming")
	d := c.pasv()
	defer d.Close()
	c.cmd(550, "LIST")
	assertNoTempFiles(t, filepath.Join(ts.dir, "incoming"))
}

func TestUploadCap(t *testing.T) {
	cfg := writerConfig()
	cfg.MaxUploadSize = 10
	ts := newTestServer(t, cfg, map[string]string{"up/": ""})
	c := ts.dial(t)
	c.login("netops", "secret")
	if code := c.stor("STOR", "up/big", bytes.Repeat([]byte("x"), 100)); code != 552 {
		t.Fatalf("STOR over cap = %d, want 552", code)
	}
	c.cmd(550, "SIZE up/big") // discarded, not kept for resume
}

// TestFullDisk runs the store on a 1 MiB tmpfs (needs root) and checks
// that ENOSPC answers 452 and leaves nothing visible.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	ts := newTestServer(t, writerConfig(), map[string]string{"up/": ""})
	mnt := filepath.Join(ts.dir, "up")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "bootsrv-ftp-test", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	c := ts.dial(t)
	c.login("netops", "secret")
	if code := c.stor("STOR", "up/huge", bytes.Repeat([]byte("y"), 4<<20)); code != 452 {
		t.Fatalf("STOR on full disk = %d, want 452", code)
	}
	if _, err := os.Stat(filepath.Join(mnt, "huge")); !os.IsNotExist(err) {
		t.Fatalf("partial visible after ENOSPC: %v", err)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, ".bootsrv-up-*"))
	if len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

// TestRMDWithLeftovers: files that interrupted uploads left never block
// RMD; an upload still being written does (550).
func TestRMDWithLeftovers(t *testing.T) {
	ts := newTestServer(t, writerConfig(), map[string]string{"up/old/": "", "up/busy/": ""})
	for _, name := range []string{".bootsrv-up-0123", ".bootsrv-part-4567"} {
		if err := os.WriteFile(filepath.Join(ts.dir, "up/old", name), []byte("left"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(ts.dir, "up/old/x"))
	os.Remove(filepath.Join(ts.dir, "up/busy/x"))
	c := ts.dial(t)
	c.login("netops", "secret")
	c.cmd(250, "RMD up/old")

	writer := ts.dial(t)
	writer.login("netops", "secret")
	d := writer.pasv()
	writer.cmd(150, "STOR up/busy/f")
	d.Write([]byte("in flight"))
	c.cmd(550, "RMD up/busy")
	d.Close()
	writer.expect(226)
	c.cmd(250, "DELE up/busy/f")
	c.cmd(250, "RMD up/busy")
}

// TestUploadAreaReaders: the upload area is write-only for anonymous users
// and users without write (550, as for a missing file), readable by users
// with write, who collect the backups; uploads_readable opens it to
// readers, but anonymous FTP keeps its upload-only folder.
func TestUploadAreaReaders(t *testing.T) {
	cfg := writerConfig()
	cfg.Users[2].Root = "/"
	cfg.Anonymous.Upload = true
	cfg.UploadDir = "incoming"
	files := map[string]string{"incoming/sw1-confg": "snmp-server community s3cret"}
	for _, readable := range []bool{false, true} {
		ts := newTestServerWith(t, cfg, files, testOptions{store: images.Options{Uploads: "incoming", UploadsReadable: readable}})
		for user, mayRead := range map[string]bool{"netops": true, "reader": readable, "anonymous": false} {
			c := ts.dial(t)
			c.login(user, "secret")
			if !mayRead {
				c.cmd(550, "RETR incoming/sw1-confg")
				c.cmd(550, "SIZE incoming/sw1-confg")
				d := c.pasv()
				c.cmd(550, "LIST incoming")
				d.Close()
				continue
			}
			if got := c.retr("incoming/sw1-confg"); string(got) != files["incoming/sw1-confg"] {
				t.Errorf("readable=%v %s: RETR = %q", readable, user, got)
			}
			c.cmd(213, "SIZE incoming/sw1-confg")
		}
	}
}
