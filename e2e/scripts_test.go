package e2e

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Per-machine boot scripts: one template, a different script for each
// machine, over HTTP and TFTP, identified by DHCP lease, neighbour table
// or ?mac=.

const scriptsTemplate = `#!ipxe
{{if .Known}}echo host={{.Hostname}} role={{.Vars.role}} mac={{.MAC}} ip={{.IP}} via={{.Protocol}} src={{.Source}}
{{else}}echo unknown mac={{.MAC}} ip={{.IP}} via={{.Protocol}} src={{.Source}}
{{end}}kernel {{.HTTPBase}}/images/vmlinuz-{{.MACHyphen}}
`

const scriptsNetYAML = `
http:
  listen: 10.79.0.1:8080
dhcp:
  mode: server
  interface: br0
  server_ip: 10.79.0.1
  lease_file: %s
  authoritative: true
  pools:
    - {subnet: 10.79.0.0/24, range: 10.79.0.100-10.79.0.150, lease_time: 1h}
  hosts:
    - {mac: "52:54:00:79:00:01", ip: 10.79.0.11, hostname: alpha, vars: {role: web}}
    - {mac: "52:54:00:79:00:02", ip: 10.79.0.12, hostname: beta, vars: {role: db}}
    - {mac: "52:54:00:79:00:03", hostname: gamma, vars: {role: cache}}
scripts:
  - name: boot.ipxe
    file: boot.ipxe.tmpl
`

// TestScriptsPerMAC: two namespaces with different MACs get leases from
// bootsrv (busybox udhcpc), then fetch boot.ipxe with curl over HTTP and
// with tftp-hpa and curl over TFTP from their own addresses: each gets its
// own script. A third namespace, with a static address and no lease, is
// found through the neighbour table; ?mac= overrides both.
func TestScriptsPerMAC(t *testing.T) {
	requireTool(t, "busybox")
	requireTool(t, "curl")
	tftpHPA := requireTool(t, "tftp")
	srv := newNetns(t)
	clis := map[string]string{}
	var ports []string
	for i, mac := range []string{"52:54:00:79:00:01", "52:54:00:79:00:02", "52:54:00:79:00:03"} {
		cli := newNetns(t)
		port := fmt.Sprintf("p%d", i)
		veth(t, srv, port, "", cli, "c0", "")
		mustRun(t, "ip", "-n", cli, "link", "set", "c0", "address", mac)
		clis[mac] = cli
		ports = append(ports, port)
	}
	bridge(t, srv, "10.79.0.1/24", ports...)
	dir := t.TempDir()
	cfg := fmt.Sprintf(scriptsNetYAML, filepath.Join(dir, "leases.db"))
	// file: is relative to the config file, which the harness writes into
	// the process's working directory; give it an absolute path instead.
	tmpl := filepath.Join(dir, "boot.ipxe.tmpl")
	if err := os.WriteFile(tmpl, []byte(scriptsTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = strings.Replace(cfg, "file: boot.ipxe.tmpl", "file: "+tmpl, 1)
	p := startBootsrv(t, bootsrvOpts{Config: cfg, Netns: srv, Files: map[string][]byte{"boot.ipxe": []byte("STORE COPY")},
		Args: []string{"-tftp-addr", "10.79.0.1:69", "-http-addr", "10.79.0.1:8080"}})

	script := filepath.Join(dir, "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncase \"$1\" in bound|renew) ip addr add \"$ip/24\" dev \"$interface\";; esac\n"), 0o755)
	for _, mac := range []string{"52:54:00:79:00:01", "52:54:00:79:00:02"} {
		argv := inNetns(clis[mac], "busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script)
		if out, err := runTool(t, 30*time.Second, argv[0], argv[1:]...); err != nil {
			t.Fatalf("udhcpc %s: %v\n%s\n%s", mac, err, out, p.Logs())
		}
	}
	// gamma has no lease: a static address, found through ARP (the
	// server learns its MAC when the HTTP connection is set up).
	mustRun(t, "ip", "-n", clis["52:54:00:79:00:03"], "addr", "add", "10.79.0.77/24", "dev", "c0")

	tests := map[string]struct {
		mac  string // the namespace it runs in
		argv []string
		want string
	}{
		"alpha http": {mac: "52:54:00:79:00:01", argv: []string{"curl", "-fsS", "http://10.79.0.1:8080/images/boot.ipxe"},
			want: "#!ipxe\necho host=alpha role=web mac=52:54:00:79:00:01 ip=10.79.0.11 via=http src=lease\nkernel http://10.79.0.1:8080/images/vmlinuz-52-54-00-79-00-01\n"},
		"beta http": {mac: "52:54:00:79:00:02", argv: []string{"curl", "-fsS", "http://10.79.0.1:8080/images/boot.ipxe"},
			want: "#!ipxe\necho host=beta role=db mac=52:54:00:79:00:02 ip=10.79.0.12 via=http src=lease\nkernel http://10.79.0.1:8080/images/vmlinuz-52-54-00-79-00-02\n"},
		"alpha curl tftp": {mac: "52:54:00:79:00:01", argv: []string{"curl", "-fsS", "--tftp-blksize", "1432", "tftp://10.79.0.1/boot.ipxe"},
			want: "#!ipxe\necho host=alpha role=web mac=52:54:00:79:00:01 ip=10.79.0.11 via=tftp src=lease\nkernel http://10.79.0.1:8080/images/vmlinuz-52-54-00-79-00-01\n"},
		"beta ?mac= of an unreserved machine": {mac: "52:54:00:79:00:02", argv: []string{"curl", "-fsS", "http://10.79.0.1:8080/images/boot.ipxe?mac=52:54:00:79:00:99"},
			want: "#!ipxe\necho unknown mac=52:54:00:79:00:99 ip=10.79.0.12 via=http src=query\nkernel http://10.79.0.1:8080/images/vmlinuz-52-54-00-79-00-99\n"},
		"gamma by neighbour table": {mac: "52:54:00:79:00:03", argv: []string{"curl", "-fsS", "http://10.79.0.1:8080/images/boot.ipxe"},
			want: "#!ipxe\necho host=gamma role=cache mac=52:54:00:79:00:03 ip=10.79.0.77 via=http src=arp\nkernel http://10.79.0.1:8080/images/vmlinuz-52-54-00-79-00-03\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			argv := inNetns(clis[tc.mac], tc.argv...)
			out, err := runTool(t, 30*time.Second, argv[0], argv[1:]...)
			if err != nil || out != tc.want {
				t.Fatalf("%v\ngot  %q\nwant %q", err, out, tc.want)
			}
		})
	}
	t.Run("beta tftp-hpa", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "boot.ipxe")
		argv := inNetns(clis["52:54:00:79:00:02"], tftpHPA, "10.79.0.1", "-m", "binary", "-c", "get", "boot.ipxe", out)
		if o, err := runTool(t, 30*time.Second, argv[0], argv[1:]...); err != nil {
			t.Fatalf("tftp-hpa: %v %s", err, o)
		}
		got, _ := os.ReadFile(out)
		if want := "echo host=beta role=db mac=52:54:00:79:00:02 ip=10.79.0.12 via=tftp src=lease\n"; !strings.Contains(string(got), want) {
			t.Fatalf("got %q, want %q in it", got, want)
		}
	})

	metrics := nsMetrics(t, srv, "10.79.0.1:8080")
	for _, want := range []string{
		`bootsrv_scripts_renders_total{protocol="http",result="ok"} 4`,
		`bootsrv_scripts_renders_total{protocol="tftp",result="ok"} 2`,
		`bootsrv_scripts_identity_total{source="lease"} 4`,
		`bootsrv_scripts_identity_total{source="arp"} 1`,
		`bootsrv_scripts_identity_total{source="query"} 1`,
		`bootsrv_tftp_transfers_total{direction="download",result="ok"} 2`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if c := strings.Count(p.Logs(), `"message":"boot script rendered"`); c != 6 {
		t.Errorf("%d render log lines, want 6", c)
	}
}

// nsMetrics fetches /metrics from inside namespace ns.
func nsMetrics(t *testing.T, ns, addr string) string {
	t.Helper()
	argv := inNetns(ns, "curl", "-fsS", "http://"+addr+"/metrics")
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return string(out)
}

// TestScriptsCheckBrokenTemplate: `bootsrv check` refuses a config whose
// template names a field that does not exist, naming the file, the
// template's own line and the key.
func TestScriptsCheckBrokenTemplate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bootsrv.yaml")
	body := "images:\n  root: " + dir + "\nscripts:\n  - name: boot.ipxe\n    template: |\n      #!ipxe\n      echo {{.Hostname}}\n      chain {{.HTTPbase}}/images/x\n"
	os.WriteFile(bad, []byte(body), 0o644)
	out, err := exec.Command(binPath, "check", "-config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":8: scripts[0].template:") || !strings.Contains(string(out), "HTTPbase") {
		t.Errorf("check: err=%v output %q; want non-zero exit naming %s:8 and scripts[0].template", err, out, bad)
	}
	// Fixed, it passes and lists the script.
	os.WriteFile(bad, []byte(strings.Replace(body, "HTTPbase", "HTTPBase", 1)), 0o644)
	out, err = exec.Command(binPath, "check", "-config", bad).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "scripts boot.ipxe") {
		t.Errorf("check of the fixed config: %v %s", err, out)
	}
}

// TestScriptsIPXEBoot: an iPXE guest under qemu (BIOS, TCG) gets boot.ipxe
// over TFTP, rendered for its MAC from its lease; that script chains a
// second one over HTTP with ?mac=${net0/mac}, which fetches a 16 MiB file
// over HTTP from /images/ and prints its size and SHA-1 on the serial
// console.
func TestScriptsIPXEBoot(t *testing.T) {
	requireTool(t, "qemu-system-x86_64")
	n := &pxeNet{srv: newNetns(t), cli: newNetns(t)}
	veth(t, n.srv, "s0", "10.80.0.1/24", n.cli, "c0", "")
	bridge(t, n.cli, "", "c0", "tap0")
	big := randomBytes(16 << 20)
	sum := sha1.Sum(big)
	cfg := fmt.Sprintf(`
http:
  listen: 10.80.0.1:8080
dhcp:
  mode: server
  interface: s0
  server_ip: 10.80.0.1
  lease_file: %s
  pools:
    - {subnet: 10.80.0.0/24, range: 10.80.0.100-10.80.0.150, lease_time: 1h}
  hosts:
    - {mac: "52:54:00:80:00:01", ip: 10.80.0.21, hostname: node21, vars: {role: worker}}
  boot:
    ipxe: boot.ipxe
scripts:
  - name: boot.ipxe
    template: |
      #!ipxe
      echo STAGE1 host={{.Hostname}} known={{.Known}} arch={{.Arch}} via={{.Protocol}} src={{.Source}}
      chain {{.HTTPBase}}/images/stage2.ipxe?mac=${net0/mac}
  - name: stage2.ipxe
    template: |
      #!ipxe
      echo STAGE2 host={{.Hostname}} {{if .Known}}role={{.Vars.role}}{{end}} via={{.Protocol}} src={{.Source}}
      imgfetch --name big {{.HTTPBase}}/images/big.bin
      imgstat
      sha1sum big || echo NO-SHA1SUM
      echo BOOTSRV-SCRIPTS-DONE
      poweroff || reboot
`, filepath.Join(t.TempDir(), "leases.db"))
	n.proc = startBootsrv(t, bootsrvOpts{Config: cfg, Netns: n.srv, Files: map[string][]byte{"big.bin": big},
		Args: []string{"-tftp-addr", "10.80.0.1:69", "-http-addr", "10.80.0.1:8080"}})
	startRAOnly(t, n.srv)
	start := time.Now()
	out := n.bootGuest(t, 240*time.Second, "BOOTSRV-SCRIPTS-DONE",
		"-boot", "n", "-device", "e1000,netdev=n0,mac=52:54:00:80:00:01")
	t.Logf("boot to done: %v", time.Since(start).Round(100*time.Millisecond))
	for _, want := range []string{
		"STAGE1 host=node21 known=true arch=bios via=tftp src=lease",
		"STAGE2 host=node21 role=worker via=http src=query",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("serial console lacks %q:\n%s", want, out)
		}
	}
	// imgstat: "big : 16777216 bytes"
	if !regexp.MustCompile(`big : 16777216 bytes`).MatchString(out) {
		t.Errorf("imgstat does not show the whole 16 MiB file:\n%s", out)
	}
	switch {
	case strings.Contains(out, hex.EncodeToString(sum[:])):
		t.Log("iPXE's sha1sum matches")
	case strings.Contains(out, "NO-SHA1SUM"):
		t.Log("this iPXE has no sha1sum command; size checked by imgstat only")
	default:
		t.Errorf("iPXE's sha1sum differs from %x:\n%s", sum, out)
	}
	logs := n.proc.Logs()
	for _, want := range []string{`"name":"boot.ipxe","protocol":"tftp"`, `"name":"stage2.ipxe","protocol":"http"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("bootsrv logs lack %s", want)
		}
	}
}
