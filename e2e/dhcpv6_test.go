package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DHCPv6 against real clients, on a segment with IPv6 only: s0 has
// fd77::1/64 (and its link-local address), c0 only its link-local one;
// neither has an IPv4 address.

const dhcpv6YAML = `
dhcpv6:
  mode: server
  interface: s0
  server_ip: "fd77::1"
  lease_file: %s
  preference: 255
  router_advertisements: %v
  pools:
    - {subnet: "fd77::/64", range: "fd77::100-fd77::1ff", dns: ["fd77::53"], domain: lab.test, lease_time: %s}
  hosts:
    - {mac: "52:54:00:77:06:50", ip: "fd77::50", hostname: reserved6}
`

// ipv6Net joins two namespaces by a veth pair with IPv6 only: srvIf gets
// srvAddr (a CIDR), cliIf none. Duplicate address detection is off in
// both, so link-local addresses are usable at once (clients bind them).
func ipv6Net(t *testing.T, srv, srvIf, srvAddr, cli, cliIf string) {
	t.Helper()
	for _, ns := range []string{srv, cli} {
		for _, k := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
			mustRun(t, "ip", "netns", "exec", ns, "sysctl", "-qw", k)
		}
	}
	veth(t, srv, srvIf, "", cli, cliIf, "")
	mustRun(t, "ip", "-n", srv, "addr", "add", srvAddr, "dev", srvIf, "nodad")
	for _, e := range []struct{ ns, ifc string }{{srv, srvIf}, {cli, cliIf}} {
		if out := mustRun(t, "ip", "-n", e.ns, "-4", "addr", "show", "dev", e.ifc); strings.Contains(out, "inet ") {
			t.Fatalf("%s has an IPv4 address:\n%s", e.ifc, out)
		}
	}
}

// startDHCPv6Net runs bootsrv with DHCPv6 on s0 in an IPv6-only pair of
// namespaces.
func startDHCPv6Net(t *testing.T, leaseTime string, ra bool) *dhcpNet {
	t.Helper()
	n := &dhcpNet{srv: newNetns(t), cli: newNetns(t)}
	ipv6Net(t, n.srv, "s0", "fd77::1/64", n.cli, "c0")
	n.leaseFile = filepath.Join(t.TempDir(), "leases6.db")
	n.proc = startBootsrv(t, bootsrvOpts{Config: fmt.Sprintf(dhcpv6YAML, n.leaseFile, ra, leaseTime), Netns: n.srv})
	if !strings.Contains(n.proc.Logs(), `"service":"dhcpv6"`) {
		t.Fatalf("dhcpv6 not listening:\n%s", n.proc.Logs())
	}
	return n
}

type lease6Row struct {
	IP, MAC, DUID, Hostname string
	IAID                    uint32
	Expiry                  time.Time
	Declined                bool
}

// leases6 stops bootsrv and lists its DHCPv6 lease file.
func (n *dhcpNet) leases6(t *testing.T) []lease6Row {
	t.Helper()
	n.proc.Stop(t)
	out, err := exec.Command(binPath, "leases", "-lease-file", n.leaseFile, "-json").CombinedOutput()
	if err != nil {
		t.Fatalf("bootsrv leases: %v\n%s", err, out)
	}
	var rows []lease6Row
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("bootsrv leases -json: %v\n%s", err, out)
	}
	return rows
}

// replies6 are bootsrv's "dhcpv6 reply" log lines of one type (solicit
// for rapid commit, request, renew, rebind).
func replies6(logs, typ string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"message":"dhcpv6 reply"`) && strings.Contains(l, `"type":"`+typ+`"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestDHCPv6Dhclient: ISC dhclient -6 gets a lease (SOLICIT, ADVERTISE,
// REQUEST, REPLY), renews it after T1 and releases it; the lease file
// holds its DUID and IAID, and the lease ends with the release.
func TestDHCPv6Dhclient(t *testing.T) {
	requireTool(t, "dhclient")
	n := startDHCPv6Net(t, "20s", false) // T1 = 10s: the renewal comes quickly
	dir := t.TempDir()
	lf, pf := filepath.Join(dir, "dhclient6.leases"), filepath.Join(dir, "dhclient6.pid")
	script := filepath.Join(dir, "script.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
case "$reason" in BOUND6|RENEW6|REBIND6|REBOOT6)
  ip -6 addr replace "$new_ip6_address/128" dev "$interface" nodad ;;
esac
exit 0
`), 0o755)
	args := []string{"dhclient", "-6", "-1", "-v", "-sf", script, "-lf", lf, "-pf", pf, "c0"}
	if out, err := n.inCli(t, 60*time.Second, args...); err != nil {
		t.Fatalf("dhclient -6: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	t.Cleanup(func() { n.inCli(t, 10*time.Second, "dhclient", "-6", "-x", "-pf", pf) })
	b, _ := os.ReadFile(lf)
	if !strings.Contains(string(b), "iaaddr fd77::100 ") {
		t.Fatalf("dhclient lease file:\n%s", b)
	}
	if addrs := mustRun(t, "ip", "-n", n.cli, "-6", "addr", "show", "c0"); !strings.Contains(addrs, "fd77::100/128") {
		t.Errorf("address not configured:\n%s", addrs)
	}
	if len(replies6(n.proc.Logs(), "request")) != 1 {
		t.Errorf("no REPLY to a REQUEST logged:\n%s", n.proc.Logs())
	}
	waitFor(t, 40*time.Second, "a renewal", func() bool { return len(replies6(n.proc.Logs(), "renew")) > 0 })
	if out, err := n.inCli(t, 30*time.Second, "dhclient", "-6", "-r", "-v", "-sf", script, "-lf", lf, "-pf", pf, "c0"); err != nil {
		t.Fatalf("dhclient -6 -r: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "the release", func() bool {
		return strings.Contains(n.proc.Logs(), `"message":"dhcpv6 lease ended"`)
	})
	rows := n.leases6(t)
	if len(rows) != 1 || rows[0].IP != "fd77::100" || rows[0].DUID == "" || rows[0].MAC != ifaceMAC(t, n.cli, "c0") ||
		rows[0].Expiry.After(time.Now()) {
		t.Fatalf("leases after the release: %+v", rows)
	}
}

// TestDHCPv6Dhcpcd: dhcpcd waits for a router advertisement with the
// managed flag before it asks DHCPv6 for an address: bootsrv's own RAs
// (router_advertisements: true) start it, and it binds a lease.
func TestDHCPv6Dhcpcd(t *testing.T) {
	requireTool(t, "dhcpcd")
	n := startDHCPv6Net(t, "1h", true)
	out, err := n.inCli(t, 60*time.Second, "dhcpcd", "-6", "-B", "-1", "-f", "/dev/null", "--nohook", "resolv.conf",
		"--script", "/bin/true", "c0")
	if err != nil {
		t.Fatalf("dhcpcd -6: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	addrs := mustRun(t, "ip", "-n", n.cli, "-6", "addr", "show", "c0")
	if !strings.Contains(addrs, "fd77::100/") {
		t.Fatalf("dhcpcd did not configure the leased address:\n%s\n%s\n%s", addrs, out, n.proc.Logs())
	}
	if routes := mustRun(t, "ip", "-n", n.cli, "-6", "route", "show"); !strings.Contains(routes, "fd77::/64") {
		t.Errorf("the advertised prefix is not on-link:\n%s", routes)
	}
	if !strings.Contains(n.proc.Logs(), `"message":"dhcpv6 reply"`) {
		t.Errorf("no dhcpv6 reply logged:\n%s", n.proc.Logs())
	}
	n.inCli(t, 10*time.Second, "dhcpcd", "-6", "-x", "c0")
	if rows := n.leases6(t); len(rows) != 1 || rows[0].IP != "fd77::100" {
		t.Fatalf("leases: %+v", rows)
	}
}

// TestDHCPv6Perfdhcp drives bootsrv with perfdhcp -6 (SOLICIT, ADVERTISE,
// REQUEST, REPLY from many DUIDs): under 1% of either exchange lost.
func TestDHCPv6Perfdhcp(t *testing.T) {
	requireTool(t, "perfdhcp")
	srv, cli := newNetns(t), newNetns(t)
	ipv6Net(t, srv, "s0", "fd81::1/64", cli, "c0")
	cfg := fmt.Sprintf(`
dhcpv6:
  mode: server
  interface: s0
  server_ip: "fd81::1"
  lease_file: %s
  pools:
    - {subnet: "fd81::/64", range: "fd81::1:0-fd81::ffff:ffff", lease_time: 1h}
`, filepath.Join(t.TempDir(), "leases6.db"))
	startBootsrv(t, bootsrvOpts{Config: cfg, Netns: srv, Args: []string{"-log-level", "info"}})
	argv := inNetns(cli, "perfdhcp", "-6", "-l", "c0", "-r", "200", "-p", "3", "-R", "100000")
	out, err := runTool(t, 60*time.Second, argv[0], argv[1:]...)
	if err != nil {
		t.Fatalf("perfdhcp -6: %v\n%s", err, out)
	}
	var sent, recv [2]int
	i := -1
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "sent packets:") {
			i++
			fmt.Sscanf(line, "sent packets: %d", &sent[min(i, 1)])
		}
		if strings.HasPrefix(line, "received packets:") && i >= 0 {
			fmt.Sscanf(line, "received packets: %d", &recv[min(i, 1)])
		}
	}
	if sent[0] < 400 || recv[0]*100 < sent[0]*99 || recv[1]*100 < sent[1]*99 {
		t.Fatalf("perfdhcp -6: SA %d/%d RR %d/%d\n%s", recv[0], sent[0], recv[1], sent[1], out)
	}
	t.Logf("perfdhcp -6: SA %d/%d RR %d/%d", recv[0], sent[0], recv[1], sent[1])
}
