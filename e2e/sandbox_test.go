package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sandboxProc is the part of the systemd unit (deploy/bootsrv.service)
// that changes what bootsrv can read at run time: ProtectProc=invisible
// and ProcSubset=pid give the service a /proc with only process
// directories (no /proc/net) and only its own processes. This machine has
// no systemd to run the unit, so the tests mount the same /proc (the
// options systemd passes to mount(2)) in a private mount namespace around
// the binary.
const sandboxProc = `mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec "$0" "$@"`

func sandboxWrap() []string {
	return []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", sandboxProc}
}

// TestUnitProcSandbox: under the unit's /proc, /proc/net is gone, and a
// machine with a static address (no lease) is still identified through
// the neighbour table: its boot script names its reservation.
func TestUnitProcSandbox(t *testing.T) {
	requireTool(t, "curl")
	requireTool(t, "unshare")
	srv, cli := newNetns(t), newNetns(t)
	probe := inNetns(srv, append(sandboxWrap()[:6], `mount -t proc -o subset=pid,hidepid=invisible proc /proc && test ! -e /proc/net/arp && test -r /proc/self/net/arp`)...)
	if out, err := runTool(t, 10*time.Second, probe[0], probe[1:]...); err != nil {
		t.Fatalf("the sandboxed /proc is not what the unit gives (ProcSubset=pid): %v %s", err, out)
	}
	veth(t, srv, "s0", "10.81.0.1/24", cli, "c0", "10.81.0.77/24")
	mustRun(t, "ip", "-n", cli, "link", "set", "c0", "address", "52:54:00:81:00:03")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
http:
  listen: 10.81.0.1:8080
dhcp:
  mode: server
  interface: s0
  server_ip: 10.81.0.1
  lease_file: %s
  pools:
    - {subnet: 10.81.0.0/24, range: 10.81.0.100-10.81.0.150}
  hosts:
    - {mac: "52:54:00:81:00:03", hostname: gamma, vars: {role: cache}}
scripts:
  - name: boot.ipxe
    template: "#!ipxe\n{{if .Known}}echo {{.Hostname}} {{.Vars.role}} src={{.Source}}{{else}}echo unknown{{end}}\n"
`, filepath.Join(dir, "leases.db"))
	startBootsrv(t, bootsrvOpts{Config: cfg, Netns: srv, Wrap: sandboxWrap(),
		Args: []string{"-tftp-addr", "10.81.0.1:69", "-http-addr", "10.81.0.1:8080"}})
	argv := inNetns(cli, "curl", "-fsS", "http://10.81.0.1:8080/images/boot.ipxe")
	out, err := runTool(t, 30*time.Second, argv[0], argv[1:]...)
	if want := "#!ipxe\necho gamma cache src=arp\n"; err != nil || out != want {
		t.Fatalf("script under the unit's /proc: %v\ngot  %q\nwant %q", err, out, want)
	}
	if _, err := os.Stat("/proc/net/arp"); err != nil {
		t.Fatalf("the test's own /proc was changed: %v", err)
	}
}
