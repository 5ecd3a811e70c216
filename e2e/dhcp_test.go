package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dhcpNet is a server namespace and a client namespace joined by a veth
// pair: s0 (10.77.0.1/24, where bootsrv's DHCP binds) and c0 (no address).
type dhcpNet struct {
	srv, cli  string
	leaseFile string
	proc      *bootsrvProc
}

const dhcpPoolYAML = `
dhcp:
  mode: server
  interface: s0
  server_ip: 10.77.0.1
  lease_file: %s
  authoritative: true
  pools:
    - subnet: 10.77.0.0/24
      range: 10.77.0.100-10.77.0.199
      router: 10.77.0.1
      dns: [10.77.0.53]
      domain: lab.test
      lease_time: %s
      options: {42: 10.77.0.123}
  hosts:
    - {mac: "52:54:00:77:00:50", ip: 10.77.0.50, hostname: reserved-node}
`

// startDHCPNet builds the namespaces and runs bootsrv in the server one.
func startDHCPNet(t *testing.T, leaseTime string, extra string) *dhcpNet {
	t.Helper()
	n := &dhcpNet{srv: newNetns(t), cli: newNetns(t)}
	veth(t, n.srv, "s0", "10.77.0.1/24", n.cli, "c0", "")
	n.leaseFile = filepath.Join(t.TempDir(), "leases.db")
	cfg := fmt.Sprintf(dhcpPoolYAML, n.leaseFile, leaseTime) + extra
	n.proc = startBootsrv(t, bootsrvOpts{Config: cfg, Netns: n.srv})
	if !strings.Contains(n.proc.Logs(), `"service":"dhcp"`) {
		t.Fatalf("dhcp not listening:\n%s", n.proc.Logs())
	}
	return n
}

// inCli runs a command in the client namespace with a deadline.
func (n *dhcpNet) inCli(t *testing.T, timeout time.Duration, argv ...string) (string, error) {
	full := inNetns(n.cli, argv...)
	return runTool(t, timeout, full[0], full[1:]...)
}

// metric reads one series from bootsrv's /metrics inside the server netns.
func (n *dhcpNet) metric(t *testing.T, series string) float64 {
	t.Helper()
	argv := inNetns(n.srv, "curl", "-fsS", "http://"+n.proc.Addr("http")+"/metrics")
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// leases stops bootsrv and lists the lease file with `bootsrv leases`.
func (n *dhcpNet) leases(t *testing.T) []leaseRow {
	t.Helper()
	n.proc.Stop(t)
	return readLeaseFile(t, n.leaseFile)
}

type leaseRow struct {
	IP, MAC, ClientID, Hostname string
	Expiry                      time.Time
	Declined                    bool
}

func readLeaseFile(t *testing.T, path string) []leaseRow {
	t.Helper()
	out, err := exec.Command(binPath, "leases", "-lease-file", path, "-json").CombinedOutput()
	if err != nil {
		t.Fatalf("bootsrv leases: %v\n%s", err, out)
	}
	var rows []struct {
		IP, MAC, Hostname string
		ClientID          string `json:"client_id"`
		Expiry            time.Time
		Declined          bool
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("bootsrv leases -json: %v\n%s", err, out)
	}
	res := make([]leaseRow, len(rows))
	for i, r := range rows {
		res[i] = leaseRow{r.IP, r.MAC, r.ClientID, r.Hostname, r.Expiry, r.Declined}
	}
	return res
}

func ifaceMAC(t *testing.T, ns, ifc string) string {
	t.Helper()
	out := mustRun(t, "ip", "-n", ns, "-o", "link", "show", ifc)
	m := regexp.MustCompile(`link/ether ([0-9a-f:]{17})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no MAC in %s", out)
	}
	return m[1]
}

func TestDHCPUdhcpc(t *testing.T) {
	requireTool(t, "busybox")
	requireTool(t, "curl")
	n := startDHCPNet(t, "1h", "")
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	env := filepath.Join(dir, "env")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+env+"\nexit 0\n"), 0o755)
	out, err := n.inCli(t, 30*time.Second, "busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script, "-O", "ntpsrv", "-O", "domain")
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	b, _ := os.ReadFile(env)
	got := string(b)
	for _, want := range []string{"ip=10.77.0.100", "subnet=255.255.255.0", "router=10.77.0.1", "dns=10.77.0.53",
		"serverid=10.77.0.1", "lease=3600", "domain=lab.test", "ntpsrv=10.77.0.123"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("udhcpc env lacks %s:\n%s", want, got)
		}
	}
	if v := n.metric(t, `bootsrv_dhcp_replies_total{type="ack"}`); v != 1 {
		t.Errorf("replies_total{ack} = %v", v)
	}
	if v := n.metric(t, `bootsrv_dhcp_leases_in_use{pool="10.77.0.0/24"}`); v != 1 {
		t.Errorf("leases_in_use = %v", v)
	}
	mac := ifaceMAC(t, n.cli, "c0")
	// While bootsrv runs it holds the lease file; the list is on HTTP.
	argv := inNetns(n.srv, "curl", "-fsS", "http://"+n.proc.Addr("http")+"/dhcp/leases")
	live, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil || !strings.Contains(string(live), `"10.77.0.100"`) || !strings.Contains(string(live), mac) {
		t.Errorf("GET /dhcp/leases on a running server: %v %s", err, live)
	}
	rows := n.leases(t)
	if len(rows) != 1 || rows[0].IP != "10.77.0.100" || rows[0].MAC != mac || !rows[0].Expiry.After(time.Now().Add(50*time.Minute)) {
		t.Fatalf("lease file: %+v (client MAC %s)", rows, mac)
	}
}

func TestDHCPReservationUdhcpc(t *testing.T) {
	requireTool(t, "busybox")
	n := startDHCPNet(t, "1h", "")
	mustRun(t, "ip", "-n", n.cli, "link", "set", "c0", "address", "52:54:00:77:00:50")
	dir := t.TempDir()
	script, env := filepath.Join(dir, "s.sh"), filepath.Join(dir, "env")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+env+"\nexit 0\n"), 0o755)
	if out, err := n.inCli(t, 30*time.Second, "busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script, "-O", "hostname"); err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(env)
	if !strings.Contains(string(b), "ip=10.77.0.50\n") || !strings.Contains(string(b), "hostname=reserved-node\n") {
		t.Fatalf("reservation not applied:\n%s", b)
	}
}

// TestDHCPDhclient covers SELECTING, RENEWING (unicast), INIT-REBOOT and
// RELEASE with ISC dhclient.
func TestDHCPDhclient(t *testing.T) {
	requireTool(t, "dhclient")
	n := startDHCPNet(t, "20s", "") // T1 = 10s: the renewal comes quickly
	dir := t.TempDir()
	lf, pf := filepath.Join(dir, "dhclient.leases"), filepath.Join(dir, "dhclient.pid")
	script := filepath.Join(dir, "script.sh")
	// Configure the address so the renewal is a real unicast from it.
	os.WriteFile(script, []byte(`#!/bin/sh
case "$reason" in BOUND|RENEW|REBIND|REBOOT)
  ip addr replace "$new_ip_address/24" dev "$interface" ;;
esac
exit 0
`), 0o755)
	args := []string{"dhclient", "-4", "-1", "-v", "-sf", script, "-lf", lf, "-pf", pf, "c0"}
	if out, err := n.inCli(t, 30*time.Second, args...); err != nil {
		t.Fatalf("dhclient: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	t.Cleanup(func() { n.inCli(t, 10*time.Second, "dhclient", "-x", "-pf", pf) })
	b, _ := os.ReadFile(lf)
	if !strings.Contains(string(b), "fixed-address 10.77.0.100;") {
		t.Fatalf("dhclient lease file:\n%s", b)
	}
	// dhclient renews by unicast after T1; the server logs the ACK state.
	waitFor(t, 40*time.Second, "renewing ACK", func() bool { return strings.Contains(n.proc.Logs(), `"state":"renewing"`) })
	// Release, then a fresh dhclient run starts in INIT-REBOOT from its
	// lease file and gets the same address back.
	if out, err := n.inCli(t, 30*time.Second, "dhclient", "-4", "-r", "-v", "-sf", script, "-lf", lf, "-pf", pf, "c0"); err != nil {
		t.Fatalf("dhclient -r: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "release", func() bool { return strings.Contains(n.proc.Logs(), `"type":"release"`) })
	mustRun(t, "ip", "-n", n.cli, "addr", "flush", "dev", "c0")
	if out, err := n.inCli(t, 30*time.Second, args...); err != nil {
		t.Fatalf("dhclient again: %v\n%s", err, out)
	}
	if !strings.Contains(n.proc.Logs(), `"state":"init-reboot"`) && !strings.Contains(n.proc.Logs(), `"state":"selecting"`) {
		t.Fatalf("no second ACK:\n%s", n.proc.Logs())
	}
	n.inCli(t, 10*time.Second, "dhclient", "-x", "-pf", pf)
	rows := n.leases(t)
	if len(rows) != 1 || rows[0].IP != "10.77.0.100" {
		t.Fatalf("leases: %+v", rows)
	}
}

func TestDHCPDhcpcd(t *testing.T) {
	requireTool(t, "dhcpcd")
	n := startDHCPNet(t, "1h", "")
	out, err := n.inCli(t, 40*time.Second, "dhcpcd", "-4", "-B", "-1", "-A", "-f", "/dev/null", "--nohook", "resolv.conf",
		"--script", "/bin/true", "-I", "ff:00:00:00:77", "c0")
	if err != nil {
		t.Fatalf("dhcpcd: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	addrs := mustRun(t, "ip", "-n", n.cli, "-4", "addr", "show", "c0")
	if !strings.Contains(addrs, "inet 10.77.0.100/24") {
		t.Fatalf("dhcpcd did not configure the leased address:\n%s\n%s", addrs, out)
	}
	rows := n.leases(t)
	// The client id (option 61) is recorded with the lease, which is keyed by it.
	if len(rows) != 1 || rows[0].IP != "10.77.0.100" || !strings.Contains(rows[0].ClientID, "ff00000077") {
		t.Fatalf("leases: %+v", rows)
	}
}

func TestDHCPNmapBroadcastDiscover(t *testing.T) {
	requireTool(t, "nmap")
	n := startDHCPNet(t, "1h", "")
	mustRun(t, "ip", "-n", n.cli, "addr", "add", "10.77.0.9/24", "dev", "c0")
	out, err := n.inCli(t, 60*time.Second, "nmap", "-e", "c0", "--script", "broadcast-dhcp-discover", "--script-args", "broadcast-dhcp-discover.timeout=5s")
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	for _, want := range []string{"IP Offered: 10.77.0.1", "DHCP Message Type: DHCPOFFER", "Server Identifier: 10.77.0.1", "Router: 10.77.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("nmap output lacks %q:\n%s", want, out)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes; it waits for a
// client's timer (T1), not for readiness.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDHCPPerfdhcp drives bootsrv with Kea's perfdhcp, which acts as a relay
// agent (source port 67, giaddr = its address, replies to giaddr:67).
func TestDHCPPerfdhcp(t *testing.T) {
	requireTool(t, "perfdhcp")
	srv, cli := newNetns(t), newNetns(t)
	veth(t, srv, "s0", "10.81.0.1/16", cli, "c0", "10.81.0.2/16")
	cfg := fmt.Sprintf(`
dhcp:
  mode: server
  interface: s0
  server_ip: 10.81.0.1
  lease_file: %s
  pools:
    - {subnet: 10.81.0.0/16, range: 10.81.1.0-10.81.250.250, lease_time: 1h}
`, filepath.Join(t.TempDir(), "leases.db"))
	startBootsrv(t, bootsrvOpts{Config: cfg, Netns: srv, Args: []string{"-log-level", "info"}})
	argv := inNetns(cli, "perfdhcp", "-4", "-l", "c0", "-r", "200", "-p", "3", "-R", "100000", "10.81.0.1")
	out, err := runPerfdhcp(t, 60*time.Second, argv)
	if err != nil {
		t.Fatalf("perfdhcp: %v\n%s", err, out)
	}
	sent, recv := perfdhcpCounts(out)
	if sent[0] < 400 || recv[0]*100 < sent[0]*99 || recv[1]*100 < sent[1]*99 {
		t.Fatalf("perfdhcp: DO %d/%d RA %d/%d\n%s", recv[0], sent[0], recv[1], sent[1], out)
	}
	t.Logf("perfdhcp: DO %d/%d RA %d/%d", recv[0], sent[0], recv[1], sent[1])
}

// runPerfdhcp runs perfdhcp; its exit status 3 (some exchanges dropped)
// is no error: the caller judges the counts, and under load the reply to
// the last request may arrive after perfdhcp stopped listening.
func runPerfdhcp(t *testing.T, d time.Duration, argv []string) (string, error) {
	t.Helper()
	out, err := runTool(t, d, argv[0], argv[1:]...)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		err = nil
	}
	return out, err
}

// perfdhcpCounts reads the sent and received packet counts of
// DISCOVER-OFFER ([0]) and REQUEST-ACK ([1]) from perfdhcp's report.
func perfdhcpCounts(out string) (sent, recv [2]int) {
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
	return sent, recv
}
