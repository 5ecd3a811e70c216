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

// TestReloadDHCP reloads the config 20 times (valid and invalid
// alternating, each valid one adding a reservation) while perfdhcp runs
// DORA exchanges at 200/s: every exchange is answered as without reloads,
// and a real client (udhcpc) whose reservation the last reload added gets
// that address right after.
func TestReloadDHCP(t *testing.T) {
	requireTool(t, "perfdhcp")
	requireTool(t, "busybox")
	requireTool(t, "curl")
	srv, load, cli := newNetns(t), newNetns(t), newNetns(t)
	veth(t, srv, "p0", "", load, "c0", "10.84.0.2/16")
	veth(t, srv, "p1", "", cli, "c0", "")
	bridge(t, srv, "10.84.0.1/16", "p0", "p1")
	mustRun(t, "ip", "-n", cli, "link", "set", "c0", "address", "52:54:00:84:00:19")
	leases := filepath.Join(t.TempDir(), "leases.db")
	cfg := func(hosts int, bad bool) string {
		c := fmt.Sprintf(`
http:
  listen: 10.84.0.1:8080
dhcp:
  mode: server
  interface: br0
  server_ip: 10.84.0.1
  lease_file: %s
  pools:
    - {subnet: 10.84.0.0/16, range: 10.84.1.0-10.84.250.250, lease_time: 1h}
  hosts:
`, leases)
		if bad {
			c = strings.Replace(c, "lease_time: 1h", "lease_time: -1h", 1)
		}
		for i := 1; i <= hosts; i++ {
			c += fmt.Sprintf("    - {mac: \"52:54:00:84:00:%02d\", ip: 10.84.0.%d, hostname: host%d}\n", i, 100+i, i)
		}
		return c
	}
	p := startBootsrv(t, bootsrvOpts{Config: cfg(1, false), Netns: srv, NoDefaultAddrs: true,
		Args: []string{"-log-level", "info", "-tftp-addr", "off", "-ftp-addr", "off"}})
	metric := func(series string) float64 {
		argv := inNetns(load, "curl", "-fsS", "http://10.84.0.1:8080/metrics")
		out, err := runTool(t, 10*time.Second, argv[0], argv[1:]...)
		if err != nil {
			t.Fatalf("metrics: %v", err)
		}
		for _, line := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(line, series+" "); ok {
				var v float64
				fmt.Sscanf(rest, "%g", &v)
				return v
			}
		}
		return 0
	}

	perf := make(chan string, 1)
	go func() {
		argv := inNetns(load, "perfdhcp", "-4", "-l", "c0", "-r", "200", "-p", "12", "-R", "100000", "10.84.0.1")
		out, err := runPerfdhcp(t, 2*time.Minute, argv)
		if err != nil {
			out = fmt.Sprintf("perfdhcp: %v\n%s", err, out)
		}
		perf <- out
	}()
	for i := 1; i <= 20; i++ {
		if err := os.WriteFile(p.ConfigFile, []byte(cfg(i, i%2 == 0)), 0o644); err != nil {
			t.Fatal(err)
		}
		p.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, 30*time.Second, fmt.Sprintf("reload %d", i), func() bool {
			return metric(`bootsrv_config_reloads_total{result="ok"}`)+metric(`bootsrv_config_reloads_total{result="error"}`) == float64(i)
		})
		time.Sleep(300 * time.Millisecond) // spread the reloads over the perfdhcp run
	}
	// The last valid reload (19) added host 19: 52:54:00:84:00:19.
	dir := t.TempDir()
	script := filepath.Join(dir, "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncase \"$1\" in bound|renew) echo \"BOUND $ip\";; esac\n"), 0o755)
	argv := inNetns(cli, "busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script)
	out, err := runTool(t, 60*time.Second, argv[0], argv[1:]...)
	if err != nil || !strings.Contains(out, "BOUND 10.84.0.119") {
		t.Errorf("the reservation the reload added: %v\n%s", err, out)
	}

	res := <-perf
	sent, recv := perfdhcpCounts(res)
	if sent[0] < 1000 || recv[0]*100 < sent[0]*99 || recv[1]*100 < sent[1]*99 {
		t.Errorf("perfdhcp during the reloads: DO %d/%d RA %d/%d\n%s", recv[0], sent[0], recv[1], sent[1], res)
	}
	t.Logf("perfdhcp during 20 reloads: DO %d/%d RA %d/%d", recv[0], sent[0], recv[1], sent[1])
	if ok, bad := metric(`bootsrv_config_reloads_total{result="ok"}`), metric(`bootsrv_config_reloads_total{result="error"}`); ok != 10 || bad != 10 {
		t.Errorf("reloads ok %v, refused %v; want 10 and 10", ok, bad)
	}
}
