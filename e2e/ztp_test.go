package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ztpRulesYAML is appended to dhcpPoolYAML's dhcp section: the Cisco and
// Arista rules of deploy/bootsrv.example.yaml.
const ztpRulesYAML = `  rules:
    - match: {vendor_class: "^Cisco"}
      bootfile: network-confg
      options: {150: [10.77.0.1]}
    - match: {vendor_class: "^Arista"}
      bootfile: http://10.77.0.1:8080/images/ztp/arista-bootstrap
`

// TestZTPUdhcpc: a client sending vendor class Cisco-C9300 (option 60) gets
// options 150 and 67 and the file field; the same client without a vendor
// class gets none of them.
func TestZTPUdhcpc(t *testing.T) {
	requireTool(t, "busybox")
	requireTool(t, "curl")
	n := startDHCPNet(t, "1h", ztpRulesYAML)
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	env := filepath.Join(dir, "env")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+env+"\nexit 0\n"), 0o755)
	run := func(extra ...string) string {
		t.Helper()
		os.Remove(env)
		args := append([]string{"busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script,
			"-O", "150", "-O", "bootfile", "-O", "tftp"}, extra...)
		if out, err := n.inCli(t, 30*time.Second, args...); err != nil {
			t.Fatalf("udhcpc: %v\n%s\n%s", err, out, n.proc.Logs())
		}
		b, _ := os.ReadFile(env)
		return string(b)
	}
	got := run("-V", "Cisco-C9300")
	for _, want := range []string{"opt150=0a4d0001", "bootfile=network-confg", "boot_file=network-confg", "ip=10.77.0.100"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("Cisco client: env lacks %s:\n%s", want, got)
		}
	}
	got = run()
	for _, unwanted := range []string{"opt150=", "bootfile=", "boot_file="} {
		if strings.Contains(got, unwanted) {
			t.Errorf("client without vendor class got %s:\n%s", unwanted, got)
		}
	}
	if !strings.Contains(got, "ip=10.77.0.") {
		t.Errorf("client without vendor class got no lease:\n%s", got)
	}
	if v := n.metric(t, `bootsrv_dhcp_rule_matches_total{rule="0"}`); v != 2 {
		t.Errorf(`rule_matches_total{rule="0"} = %v, want 2 (offer and ack)`, v)
	}
}

// TestZTPDhclient: ISC dhclient sending vendor class "Arista" gets the ZTP
// script URL as bootfile (file field and option 67).
func TestZTPDhclient(t *testing.T) {
	requireTool(t, "dhclient")
	n := startDHCPNet(t, "1h", ztpRulesYAML)
	dir := t.TempDir()
	lf, pf, cf := filepath.Join(dir, "dhclient.leases"), filepath.Join(dir, "dhclient.pid"), filepath.Join(dir, "dhclient.conf")
	os.WriteFile(cf, []byte(`send vendor-class-identifier "Arista";
request subnet-mask, routers, bootfile-name, tftp-server-name;
`), 0o644)
	args := []string{"dhclient", "-4", "-1", "-v", "-cf", cf, "-sf", "/bin/true", "-lf", lf, "-pf", pf, "c0"}
	if out, err := n.inCli(t, 30*time.Second, args...); err != nil {
		t.Fatalf("dhclient: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	t.Cleanup(func() { n.inCli(t, 10*time.Second, "dhclient", "-x", "-pf", pf) })
	b, _ := os.ReadFile(lf)
	lease := string(b)
	url := "http://10.77.0.1:8080/images/ztp/arista-bootstrap"
	if !strings.Contains(lease, `filename "`+url+`";`) || !strings.Contains(lease, `option bootfile-name "`+url+`";`) {
		t.Fatalf("dhclient lease lacks the ZTP bootfile:\n%s", lease)
	}
}
