package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/internal/testcert"
)

// ftpsConfig is ftpConfig plus a self-signed certificate made here, and
// tls.require when require is set.
func ftpsConfig(t *testing.T, require bool) string {
	t.Helper()
	cert, keyFile := testcert.Write(t)
	return ftpConfig(t) + fmt.Sprintf("  tls: {cert: %q, key: %q, require: %v}\n", cert, keyFile, require)
}

// TestFTPSCurl: curl with explicit FTPS (AUTH TLS, then PROT P because of
// --ssl-reqd) downloads and uploads against tls.require; a plaintext curl
// is refused at login.
func TestFTPSCurl(t *testing.T) {
	requireTool(t, "curl")
	big := randomBytes(2<<20 + 5)
	p := startBootsrv(t, bootsrvOpts{Config: ftpsConfig(t, true), Files: map[string][]byte{"fw/big.bin": big, "up/.keep": nil}})
	url := "ftp://" + p.Addr("ftp")
	dir := t.TempDir()
	tlsArgs := []string{"-sS", "--ssl-reqd", "-k", "-u", "netops:secret"}
	dst := filepath.Join(dir, "got")
	if o, err := runTool(t, time.Minute, "curl", append(tlsArgs, "-o", dst, url+"/fw/big.bin")...); err != nil {
		t.Fatalf("curl --ssl-reqd download: %v %s", err, o)
	}
	if fileSHA256(t, dst) != sha256Hex(big) {
		t.Fatal("FTPS download differs")
	}
	src := filepath.Join(dir, "src")
	os.WriteFile(src, big, 0o644)
	if o, err := runTool(t, time.Minute, "curl", append(tlsArgs, "-T", src, url+"/up/tls.bin")...); err != nil {
		t.Fatalf("curl --ssl-reqd upload: %v %s", err, o)
	}
	if fileSHA256(t, filepath.Join(p.Root, "up/tls.bin")) != sha256Hex(big) {
		t.Fatal("FTPS upload differs")
	}
	// No active-mode case here: curl 7.87-7.88 does not start TLS on an
	// active data connection (curl issue 10666); lftp covers active FTPS.
	// Plaintext against tls.require: USER gets 530, curl fails (exit 67,
	// login denied).
	o, err := runTool(t, time.Minute, "curl", "-sS", "-v", "-u", "netops:secret", "-o", dst, url+"/fw/big.bin")
	if err == nil || !strings.Contains(o, "< 530 TLS required") {
		t.Fatalf("plaintext curl against tls.require: %v\n%s", err, o)
	}
	if got := p.Metric(t, `bootsrv_ftp_refusals_total{reason="tls_required"}`); got < 1 {
		t.Errorf("tls_required refusals = %v", got)
	}
}

// TestFTPSLftp: lftp with ftp:ssl-force (AUTH TLS before login, PROT P for
// data) mirrors a tree down and puts a file up.
func TestFTPSLftp(t *testing.T) {
	requireTool(t, "lftp")
	files := map[string][]byte{"tree/a.bin": randomBytes(70000), "tree/sub/b.bin": randomBytes(5000)}
	p := startBootsrv(t, bootsrvOpts{Config: ftpsConfig(t, true), Files: files})
	host, port := splitHostPort(t, p.Addr("ftp"))
	dst := t.TempDir()
	upData := randomBytes(300000)
	os.WriteFile(filepath.Join(dst, "up.bin"), upData, 0o644)
	cmds := fmt.Sprintf("set cmd:fail-exit yes; set net:max-retries 1; set ftp:ssl-force true; "+
		"set ftp:ssl-protect-data true; set ssl:verify-certificate no; "+
		"open -u netops,secret -p %s %s; mirror tree %s/tree; lcd %s; put up.bin -o up.bin; bye",
		port, host, dst, dst)
	if o, err := runTool(t, 2*time.Minute, "lftp", "-d", "-c", cmds); err != nil {
		t.Fatalf("lftp: %v\n%s", err, o)
	} else if !strings.Contains(o, "AUTH TLS") || !strings.Contains(o, "PROT P") {
		t.Fatalf("lftp did not negotiate TLS:\n%s", o)
	}
	// Active mode: the server connects out and is the TLS server on the
	// data connection (RFC 4217 §7).
	active := strings.NewReplacer("mirror tree "+dst+"/tree", "set ftp:passive-mode false; get tree/a.bin -o "+dst+"/active.bin",
		"-o up.bin", "-o up-active.bin").Replace(cmds)
	if o, err := runTool(t, 2*time.Minute, "lftp", "-d", "-c", active); err != nil {
		t.Fatalf("lftp active: %v\n%s", err, o)
	} else if !strings.Contains(o, "PORT ") && !strings.Contains(o, "EPRT ") {
		t.Fatalf("lftp did not use active mode:\n%s", o)
	}
	if fileSHA256(t, filepath.Join(dst, "active.bin")) != sha256Hex(files["tree/a.bin"]) {
		t.Error("lftp active FTPS get differs")
	}
	if fileSHA256(t, filepath.Join(p.Root, "up-active.bin")) != sha256Hex(upData) {
		t.Error("lftp active FTPS put differs")
	}
	for name, data := range files {
		if fileSHA256(t, filepath.Join(dst, name)) != sha256Hex(data) {
			t.Errorf("lftp FTPS %s differs", name)
		}
	}
	if fileSHA256(t, filepath.Join(p.Root, "up.bin")) != sha256Hex(upData) {
		t.Error("lftp FTPS put differs")
	}
	if !strings.Contains(p.Logs(), `"tls":true`) {
		t.Error("no session logged with tls:true")
	}
}
