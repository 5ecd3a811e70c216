package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// udhcpcScript writes a udhcpc script that saves the bound environment to
// the returned env file.
func udhcpcScript(t *testing.T) (script, env string) {
	t.Helper()
	dir := t.TempDir()
	script, env = filepath.Join(dir, "s.sh"), filepath.Join(dir, "env")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+env+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, env
}

// TestDHCPStarvationFlood floods a 14-address range with DISCOVERs from
// random MACs (perfdhcp -i, the yersinia-style starvation attack: DISCOVER
// only, never REQUEST) while a real udhcpc asks for a lease on the same
// segment. Unprotected (every offer holds its address, no rate limit) the
// flood holds the whole range and udhcpc gets nothing; with the defaults
// (offers hold at most half the range) plus a global rate limit below the
// flood rate, udhcpc is leased an address.
func TestDHCPStarvationFlood(t *testing.T) {
	requireTool(t, "perfdhcp")
	requireTool(t, "busybox")
	requireTool(t, "curl")
	tests := map[string]struct {
		safety    string
		held      float64 // offers_held the flood reaches
		flooding  string  // a drop reason that shows the flood in full swing
		wantLease bool
	}{
		"protected": {safety: `
  rate_limit: {global: 150/s, global_burst: 100}
`, held: 7, flooding: "global_rate_limited", wantLease: true},
		"unprotected": {safety: `
  offer_hold_percent: 100
  rate_limit: {per_client: "off", global: "off"}
`, held: 14, flooding: "pool_exhausted", wantLease: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n := &dhcpNet{srv: newNetns(t), cli: newNetns(t)}
			veth(t, n.srv, "s0", "10.78.0.1/24", n.cli, "c0", "10.78.0.2/24")
			cfg := fmt.Sprintf(`
dhcp:
  mode: server
  interface: s0
  server_ip: 10.78.0.1
  lease_file: %s
  authoritative: true
  pools:
    - {subnet: 10.78.0.0/24, range: 10.78.0.100-10.78.0.113, lease_time: 1h}
`, filepath.Join(t.TempDir(), "leases.db")) + tc.safety
			n.proc = startBootsrv(t, bootsrvOpts{Config: cfg, Netns: n.srv})
			// perfdhcp relays (giaddr 10.78.0.2, inside the pool's subnet)
			// 300 DISCOVERs a second from fresh random MACs for 20 s.
			flood := exec.Command("ip", inNetns(n.cli, "perfdhcp", "-4", "-i", "-l", "c0", "-r", "300", "-R", "100000000", "-p", "20", "10.78.0.1")[1:]...)
			var floodOut strings.Builder
			flood.Stdout, flood.Stderr = &floodOut, &floodOut
			if err := flood.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { flood.Process.Kill(); flood.Wait() })
			held := `bootsrv_dhcp_offers_held{pool="10.78.0.0/24"}`
			drops := `bootsrv_dhcp_drops_total{reason="` + tc.flooding + `"}`
			waitFor(t, 20*time.Second, "the flood to hold its share of the pool", func() bool {
				return n.metric(t, held) >= tc.held && n.metric(t, drops) > 0
			})
			script, env := udhcpcScript(t)
			out, err := n.inCli(t, 40*time.Second, "busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "15", "-T", "1", "-s", script)
			b, _ := os.ReadFile(env)
			leased := err == nil && strings.Contains(string(b), "ip=10.78.0.1")
			mac := ifaceMAC(t, n.cli, "c0")
			t.Logf("udhcpc (%s): err=%v %q; offers_held %v, unheld offers %v, drops: global %v, pool_exhausted %v",
				mac, err, grepLine(string(b), "ip="), n.metric(t, held), n.metric(t, "bootsrv_dhcp_offers_unheld_total"),
				n.metric(t, `bootsrv_dhcp_drops_total{reason="global_rate_limited"}`), n.metric(t, `bootsrv_dhcp_drops_total{reason="pool_exhausted"}`))
			var mine []string
			for _, l := range strings.Split(n.proc.Logs(), "\n") {
				if strings.Contains(l, mac) {
					mine = append(mine, l)
				}
			}
			t.Logf("bootsrv about udhcpc: %d lines; last: %s", len(mine), strings.Join(mine[max(0, len(mine)-3):], "\n"))
			if leased != tc.wantLease {
				t.Fatalf("udhcpc leased=%v, want %v (busy drops %v)\n%s\n%s\nbootsrv about %s:\n%s", leased, tc.wantLease,
					n.metric(t, `bootsrv_dhcp_drops_total{reason="busy"}`), out, b, mac, strings.Join(mine, "\n"))
			}
			if got := n.metric(t, held); got > tc.held {
				t.Errorf("offers held %v > %v", got, tc.held)
			}
			if tc.wantLease {
				if n.metric(t, `bootsrv_dhcp_drops_total{reason="global_rate_limited"}`) == 0 || n.metric(t, "bootsrv_dhcp_offers_unheld_total") == 0 {
					t.Errorf("protection did not act: global drops and unheld offers expected")
				}
				if !strings.Contains(n.proc.Logs(), `"reason":"global_rate_limited"`) {
					t.Errorf("no sampled log line for global_rate_limited drops")
				}
			} else if n.metric(t, `bootsrv_dhcp_drops_total{reason="pool_exhausted"}`) == 0 {
				t.Errorf("unprotected: pool_exhausted drops expected")
			}
		})
	}
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestDHCPKnownClientsOnly: with known_clients_only an unreserved udhcpc
// gets no lease, a reserved MAC does.
func TestDHCPKnownClientsOnly(t *testing.T) {
	requireTool(t, "busybox")
	requireTool(t, "curl")
	n := startDHCPNet(t, "1h", "  known_clients_only: true\n")
	script, env := udhcpcScript(t)
	udhcpc := []string{"busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "3", "-T", "1", "-s", script}
	if out, err := n.inCli(t, 30*time.Second, udhcpc...); err == nil {
		b, _ := os.ReadFile(env)
		t.Fatalf("unreserved client got a lease:\n%s\n%s", out, b)
	}
	if v := n.metric(t, `bootsrv_dhcp_drops_total{reason="unknown_client"}`); v < 3 {
		t.Errorf("unknown_client drops = %v, want >= 3 (one per DISCOVER)", v)
	}
	mustRun(t, "ip", "-n", n.cli, "link", "set", "c0", "address", "52:54:00:77:00:50")
	if out, err := n.inCli(t, 30*time.Second, udhcpc...); err != nil {
		t.Fatalf("reserved client: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	if b, _ := os.ReadFile(env); !strings.Contains(string(b), "ip=10.77.0.50\n") {
		t.Fatalf("reserved client env:\n%s", b)
	}
}

// segment joins namespaces through a bridge in a switch namespace: for
// each member a veth pair, one end (named ifc, with addr) in the member,
// the other enslaved to the bridge.
func segment(t *testing.T, members ...[3]string) {
	t.Helper()
	sw := newNetns(t)
	var ports []string
	for i, m := range members {
		port := fmt.Sprintf("p%d", i)
		veth(t, m[0], m[1], m[2], sw, port, "")
		ports = append(ports, port)
	}
	bridge(t, sw, "", ports...)
}

// TestDHCPRogueServer runs dnsmasq as a second DHCP server on bootsrv's
// segment. bootsrv's probe makes dnsmasq offer; a udhcpc with the broadcast
// flag (-B) makes it offer on the wire, seen by the passive listener.
// bootsrv must log dnsmasq's address and count it.
func TestDHCPRogueServer(t *testing.T) {
	requireTool(t, "dnsmasq")
	requireTool(t, "busybox")
	requireTool(t, "curl")
	n := &dhcpNet{srv: newNetns(t), cli: newNetns(t)}
	rogue := newNetns(t)
	segment(t, [3]string{n.srv, "s0", "10.79.0.1/24"}, [3]string{n.cli, "c0", ""}, [3]string{rogue, "r0", "10.79.0.2/24"})

	dir := t.TempDir()
	dm := exec.Command("ip", inNetns(rogue, "dnsmasq", "--no-daemon", "--port=0", "--conf-file=/dev/null", "--log-facility=-",
		"--interface=r0", "--bind-interfaces", "--dhcp-range=10.79.0.150,10.79.0.160,1h",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "pid"))[1:]...)
	stderr, err := dm.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dm.Process.Kill(); dm.Wait() })
	started := make(chan struct{})
	dmLog := &lockedBuffer{}
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			dmLog.WriteLine(sc.Text())
			if !once && strings.Contains(sc.Text(), "DHCP, IP range") {
				once = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatalf("dnsmasq did not start:\n%s", dmLog.String())
	}

	cfg := fmt.Sprintf(`
dhcp:
  mode: server
  interface: s0
  server_ip: 10.79.0.1
  lease_file: %s
  pools:
    - {subnet: 10.79.0.0/24, range: 10.79.0.100-10.79.0.120, lease_time: 1h}
  rogue_detection: {probe_interval: 2s, window: 10m}
`, filepath.Join(t.TempDir(), "leases.db"))
	n.proc = startBootsrv(t, bootsrvOpts{Config: cfg, Netns: n.srv})
	if strings.Contains(n.proc.Logs(), "client port not bound") {
		t.Fatalf("listener not bound:\n%s", n.proc.Logs())
	}
	probe := `bootsrv_dhcp_other_server_offers_total{source="probe"}`
	waitFor(t, 20*time.Second, "a probe answered by dnsmasq", func() bool { return n.metric(t, probe) >= 1 })

	script, _ := udhcpcScript(t)
	if out, err := n.inCli(t, 30*time.Second, "busybox", "udhcpc", "-B", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script); err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	listener := `bootsrv_dhcp_other_server_offers_total{source="listener"}`
	waitFor(t, 10*time.Second, "dnsmasq's broadcast offer to udhcpc", func() bool { return n.metric(t, listener) >= 1 })
	if v := n.metric(t, "bootsrv_dhcp_other_servers"); v != 1 {
		t.Errorf("other_servers = %v, want 1", v)
	}
	if v := n.metric(t, `bootsrv_dhcp_drops_total{reason="own_probe"}`); v < 1 {
		t.Errorf("bootsrv did not recognise its own probe: own_probe drops %v", v)
	}
	logs := n.proc.Logs()
	if !strings.Contains(logs, `"server_id":"10.79.0.2"`) || !strings.Contains(logs, "other DHCP server on the segment") {
		t.Fatalf("no log naming the other server:\n%s", logs)
	}
	t.Logf("probe %v, listener %v, request %v", n.metric(t, probe), n.metric(t, listener),
		n.metric(t, `bootsrv_dhcp_other_server_offers_total{source="request"}`))
	if !strings.Contains(dmLog.String(), "DHCPOFFER") {
		t.Errorf("dnsmasq logged no DHCPOFFER:\n%s", dmLog.String())
	}
}
