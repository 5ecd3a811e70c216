package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// reloadConfig is the config TestReloadUnderLoad alternates; VARIANT
// differs between the valid versions so that every reload changes
// something.
const reloadConfig = `
log: {level: info}
tftp:
  max_transfers: VARIANT
ftp:
  banner: "banner VARIANT"
  users:
    - {name: netops, password_hash: "HASH"}
USERS`

// TestReloadUnderLoad reloads the config 20 times, valid and invalid
// alternating, by SIGHUP and by bootsrv reload, while curl downloads a
// 500 MiB file over TFTP and over FTP (slowed down): both transfers end
// byte-exact, every valid reload is applied and every invalid one refused
// with the file, line and key, and an FTP user the last reload added can
// log in right after it.
func TestReloadUnderLoad(t *testing.T) {
	requireTool(t, "curl")
	hash := secretHash(t)
	block := randomBytes(1 << 20)
	big := bytes.Repeat(block, 500)
	sum := sha256.Sum256(big)
	want := hex.EncodeToString(sum[:])
	cfg := func(variant int, users string) string {
		c := strings.ReplaceAll(reloadConfig, "VARIANT", fmt.Sprint(100+variant))
		c = strings.Replace(c, "HASH", hash, 1)
		return strings.Replace(c, "USERS", users, 1)
	}
	p := startBootsrv(t, bootsrvOpts{Config: cfg(0, ""), Files: map[string][]byte{"big.img": big, "small.bin": block}})
	dir := t.TempDir()

	var wg sync.WaitGroup
	results := map[string]string{}
	var mu sync.Mutex
	fetch := func(name string, args ...string) {
		defer wg.Done()
		out := filepath.Join(dir, name)
		argv := append([]string{"-sS", "-o", out}, args...)
		o, err := runTool(t, 10*time.Minute, "curl", argv...)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			results[name] = fmt.Sprintf("curl: %v %s", err, o)
			return
		}
		results[name] = fileSHA256(t, out)
	}
	wg.Add(2)
	go fetch("tftp", "--tftp-blksize", "65464", "tftp://"+p.Addr("tftp")+"/big.img")
	// 20 MB/s: the FTP download lasts at least 25 s, longer than the
	// reloads, so they all land while it runs.
	go fetch("ftp", "--limit-rate", "20M", "ftp://"+p.Addr("ftp")+"/big.img")

	for i := 1; i <= 20; i++ {
		body := cfg(i, "")
		if i%2 == 0 {
			body = strings.Replace(body, "max_transfers: ", "max_transfers: -", 1) // refused
		}
		if i == 19 {
			body = cfg(i, `    - {name: added, password_hash: "`+hash+`"}`)
		}
		if err := os.WriteFile(p.ConfigFile, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if i%4 < 2 {
			out, err := runTool(t, 30*time.Second, binPath, "reload", "-config", p.ConfigFile, "-http-addr", p.Addr("http"))
			if (err == nil) != (i%2 == 1) {
				t.Fatalf("reload %d: %v\n%s", i, err, out)
			}
			if i%2 == 0 && !strings.Contains(out, "tftp.max_transfers") {
				t.Errorf("reload %d refused without naming the key: %s", i, out)
			}
		} else {
			p.cmd.Process.Signal(syscall.SIGHUP)
			waitFor(t, 30*time.Second, fmt.Sprintf("reload %d", i), func() bool {
				return p.Metric(t, `bootsrv_config_reloads_total{result="ok"}`)+
					p.Metric(t, `bootsrv_config_reloads_total{result="error"}`) == float64(i)
			})
		}
		if i == 19 {
			out, err := runTool(t, 30*time.Second, "curl", "-sS", "-u", "added:secret", "ftp://"+p.Addr("ftp")+"/small.bin", "-o", filepath.Join(dir, "added"))
			if err != nil {
				t.Errorf("the user the reload added cannot log in: %v %s", err, out)
			}
		}
	}
	mu.Lock()
	_, ftpDone := results["ftp"]
	mu.Unlock()
	if ftpDone {
		t.Error("the FTP download ended before the last reload: the test proved less than it claims")
	}
	wg.Wait()
	for _, proto := range []string{"tftp", "ftp"} {
		if results[proto] != want {
			t.Errorf("%s download during the reloads: %s, want sha256 %s", proto, results[proto], want)
		}
	}
	if ok, bad := p.Metric(t, `bootsrv_config_reloads_total{result="ok"}`), p.Metric(t, `bootsrv_config_reloads_total{result="error"}`); ok != 10 || bad != 10 {
		t.Errorf("reloads ok %v, refused %v; want 10 and 10", ok, bad)
	}
	if v := p.Metric(t, "bootsrv_config_last_reload_successful"); v != 0 {
		t.Errorf("last_reload_successful = %v after a refused reload", v)
	}
	if n := strings.Count(p.Logs(), `"message":"config reloaded"`); n != 10 {
		t.Errorf("%d config reloaded lines, want 10", n)
	}
}
