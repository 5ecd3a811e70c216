package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAbuseDescriptorExhaustion: bootsrv with a file-descriptor limit of
// 200, attacked from 40 addresses with idle keep-alive HTTP connections and
// idle FTP connections until it has no descriptor left. It must not exit:
// DHCP keeps leasing to a real client during the attack, and once the
// attackers let go, TFTP, FTP and HTTP serve real clients again.
func TestAbuseDescriptorExhaustion(t *testing.T) {
	requireTool(t, "prlimit")
	requireTool(t, "python3")
	requireTool(t, "busybox")
	requireTool(t, "curl")
	srv, att, dcli := newNetns(t), newNetns(t), newNetns(t)
	veth(t, srv, "p0", "", att, "c0", "10.82.0.2/24")
	veth(t, srv, "p1", "", dcli, "c0", "")
	bridge(t, srv, "10.82.0.1/24", "p0", "p1")
	var srcs []string
	for i := 2; i < 42; i++ {
		src := fmt.Sprintf("10.82.0.%d", i)
		if i > 2 {
			mustRun(t, "ip", "-n", att, "addr", "add", src+"/24", "dev", "c0")
		}
		srcs = append(srcs, src)
	}
	dir := t.TempDir()
	data := randomBytes(1<<20 + 7)
	cfg := fmt.Sprintf(`
dhcp:
  mode: server
  interface: br0
  server_ip: 10.82.0.1
  lease_file: %s
  pools:
    - {subnet: 10.82.0.0/24, range: 10.82.0.100-10.82.0.150, lease_time: 1h}
`, filepath.Join(dir, "leases.db"))
	p := startBootsrv(t, bootsrvOpts{Config: cfg, Netns: srv, Files: map[string][]byte{"fw.bin": data},
		Wrap: []string{"prlimit", "--nofile=200:200"},
		Args: []string{"-tftp-addr", "10.82.0.1:69", "-ftp-addr", "10.82.0.1:21", "-http-addr", "10.82.0.1:8080"}})

	attack := func(port, count int, kind string) *lineProc {
		argv := inNetns(att, append([]string{"python3", "testdata/hold.py", "10.82.0.1", fmt.Sprint(port), fmt.Sprint(count), kind}, srcs...)...)
		return startLineProc(t, argv...)
	}
	httpHold := attack(8080, 300, "http")
	t.Logf("http: %s", httpHold.next("held", 2*time.Minute))
	ftpHold := attack(21, 400, "raw")
	t.Logf("ftp: %s", ftpHold.next("held", 3*time.Minute))
	if !strings.Contains(p.Logs(), "too many open files") {
		t.Fatalf("the attack did not exhaust bootsrv's descriptors; the test proves nothing\n%s", p.Logs())
	}
	select {
	case err := <-p.exit:
		p.exit <- err
		t.Fatalf("bootsrv exited under descriptor exhaustion: %v\n%s", err, p.Logs())
	default:
	}

	// DHCP needs no new descriptor: a real client gets a lease now.
	script := filepath.Join(dir, "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncase \"$1\" in bound|renew) ip addr add \"$ip/24\" dev \"$interface\";; esac\n"), 0o755)
	argv := inNetns(dcli, "busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script)
	if out, err := runTool(t, 60*time.Second, argv[0], argv[1:]...); err != nil {
		t.Fatalf("udhcpc during the attack: %v\n%s\n%s", err, out, p.Logs())
	}

	// The attackers let go: every service serves again.
	httpHold.stdin.Close()
	ftpHold.stdin.Close()
	httpHold.next("released", time.Minute)
	ftpHold.next("released", time.Minute)
	want := sha256Hex(data)
	fetch := func(name string, args ...string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "got")
		argv := inNetns(dcli, append([]string{"curl", "-fsS", "--retry", "10", "--retry-delay", "1", "--retry-all-errors", "-o", out}, args...)...)
		if o, err := runTool(t, 2*time.Minute, argv[0], argv[1:]...); err != nil {
			t.Fatalf("%s after the attack: %v %s\n%s", name, err, o, p.Logs())
		}
		if got := fileSHA256(t, out); got != want {
			t.Fatalf("%s after the attack: sha256 %s, want %s", name, got, want)
		}
	}
	fetch("tftp", "tftp://10.82.0.1/fw.bin")
	fetch("ftp", "ftp://10.82.0.1/fw.bin")
	fetch("http", "http://10.82.0.1:8080/images/fw.bin")
	argv = inNetns(dcli, "curl", "-fsS", "http://10.82.0.1:8080/healthz")
	if out, err := runTool(t, 30*time.Second, argv[0], argv[1:]...); err != nil || out != "ok\n" {
		t.Fatalf("/healthz after the attack: %v %q", err, out)
	}
}
