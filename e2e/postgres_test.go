package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bootsrv/bootsrv/internal/pgtest"
)

// pgGroup is bootsrv servers sharing one PostgreSQL lease store on one
// segment: server i in namespace srv[i] with s0 at 10.82.0.(i+1)/16 and
// server_id a, b, ...; clients in cli on c0 (10.82.0.10/16 when cliAddr
// says so, the address perfdhcp relays from).
type pgGroup struct {
	pg  *pgtest.Cluster
	srv []string
	cli string
}

func newPGGroup(t *testing.T, servers int, cliAddr string) *pgGroup {
	t.Helper()
	g := &pgGroup{pg: startPostgres(t), cli: newNetns(t)}
	members := [][3]string{{g.cli, "c0", cliAddr}}
	for i := range servers {
		ns := newNetns(t)
		g.srv = append(g.srv, ns)
		members = append(members, [3]string{ns, "s0", fmt.Sprintf("10.82.0.%d/16", i+1)})
	}
	segment(t, members...)
	return g
}

func serverID(i int) string { return string(rune('a' + i)) }

// config is server i's config: a /16 pool, lease_store postgres with a
// fast heartbeat (200ms) and peer_timeout (1s) so failover is quick.
func (g *pgGroup) config(i int, leaseTime string) string {
	return fmt.Sprintf(`
dhcp:
  mode: server
  interface: s0
  server_ip: 10.82.0.%d
  authoritative: true
  pools:
    - {subnet: 10.82.0.0/16, range: 10.82.1.0-10.82.250.250, lease_time: %s}
  lease_store:
    type: postgres
    dsn: %q
    server_id: %s
    heartbeat: 200ms
    peer_timeout: 1s
`, i+1, leaseTime, g.pg.DSN("bootsrv"), serverID(i))
}

func (g *pgGroup) start(t *testing.T, i int, leaseTime string) *bootsrvProc {
	t.Helper()
	return startBootsrv(t, bootsrvOpts{Config: g.config(i, leaseTime), Netns: g.srv[i], Args: []string{"-log-level", "info"}})
}

// kill9 kills a server with SIGKILL and skips the harness's exit check.
func kill9(t *testing.T, p *bootsrvProc) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-p.exit
	p.exit <- err
	p.cmd.Process = nil
}

// dbLeases is the database's lease records: MAC -> address, for active
// ones, and the addresses held by two active records of different
// clients or by one client twice (the primary key makes the first
// impossible; the query checks it anyway).
func dbLeases(t *testing.T, pg *pgtest.Cluster) (byMAC map[string]string, dups [][]string) {
	t.Helper()
	byMAC = map[string]string{}
	for _, r := range sqlRows(t, pg, `SELECT mac, host(ip) FROM bootsrv_leases WHERE expiry > now() AND NOT declined`) {
		byMAC[r[0]] = r[1]
	}
	dups = sqlRows(t, pg, `SELECT host(ip), count(*) FROM bootsrv_leases GROUP BY ip HAVING count(*) > 1
		UNION ALL SELECT encode(client, 'hex'), count(*) FROM bootsrv_leases WHERE expiry > now() AND NOT declined GROUP BY client HAVING count(*) > 1`)
	return byMAC, dups
}

// perfdhcpAcks parses perfdhcp -x l output: the leases it saw ACKed, as
// address -> MACs (client_id is htype 01 and the MAC, in hex).
func perfdhcpAcks(out string) map[string][]string {
	acks := map[string][]string{}
	_, section, ok := strings.Cut(out, "***Leases for REQUEST-ACK***")
	if !ok {
		return acks
	}
	for _, line := range strings.Split(section, "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 2 || len(f[0]) != 14 || !strings.HasPrefix(f[0], "01") {
			continue
		}
		hw, err := net.ParseMAC(strings.Join([]string{f[0][2:4], f[0][4:6], f[0][6:8], f[0][8:10], f[0][10:12], f[0][12:14]}, ":"))
		if err == nil {
			acks[f[1]] = append(acks[f[1]], hw.String())
		}
	}
	return acks
}

// TestPostgresTwoServersKill9 runs perfdhcp load through two bootsrv
// sharing PostgreSQL (DISCOVERs broadcast, so both servers see every
// client and each answers its share) and kills one with SIGKILL in the
// middle. The survivor takes the dead one's clients over; every address
// perfdhcp saw ACKed is in the database for that client, and no address
// was ACKed to two clients (from the database and from perfdhcp's log).
func TestPostgresTwoServersKill9(t *testing.T) {
	requireTool(t, "perfdhcp")
	requireTool(t, "curl")
	g := newPGGroup(t, 2, "10.82.0.10/16")
	a, b := g.start(t, 0, "1h"), g.start(t, 1, "1h")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// -u: perfdhcp checks itself that no address comes twice; -x l prints
	// every lease it got.
	argv := inNetns(g.cli, "perfdhcp", "-4", "-l", "c0", "-r", "150", "-p", "14", "-R", "1000000", "-u", "-x", "l", "all")
	pd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer // read after Wait
	pd.Stdout, pd.Stderr = &out, &out
	if err := pd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "300 ACKs from a", func() bool {
		return metricIn(t, g.srv[0], a, `bootsrv_dhcp_replies_total{type="ack"}`) >= 300
	})
	aAcks := metricIn(t, g.srv[0], a, `bootsrv_dhcp_replies_total{type="ack"}`)
	bBefore := metricIn(t, g.srv[1], b, `bootsrv_dhcp_replies_total{type="ack"}`)
	kill9(t, a)
	pd.Wait() // exits non-zero: a's last exchanges were dropped
	text := out.String()
	if !strings.Contains(text, "***Statistics for: REQUEST-ACK***") {
		t.Fatalf("perfdhcp printed no statistics:\n%s", text)
	}
	// Two servers may OFFER one address (the DISCOVER-OFFER figure may
	// count some); only ACKs must be unique.
	_, ra, _ := strings.Cut(text, "***Statistics for: REQUEST-ACK***")
	if !strings.Contains(ra, "non unique addresses: 0\n") {
		t.Errorf("perfdhcp saw an address ACKed twice:\n%s", grepLines(ra, "non unique"))
	}
	bAfter := metricIn(t, g.srv[1], b, `bootsrv_dhcp_replies_total{type="ack"}`)
	if !strings.Contains(b.Logs(), `"servers":["b"]`) {
		t.Errorf("b never saw a die:\n%s", b.Logs())
	}
	b.Stop(t)

	acks := perfdhcpAcks(text)
	byMAC, dups := dbLeases(t, g.pg)
	seen, missing, twice := 0, 0, 0
	for ip, macs := range acks {
		seen += len(macs)
		if len(macs) > 1 {
			twice++
			t.Errorf("perfdhcp: %s ACKed to %v", ip, macs)
		}
		for _, m := range macs {
			if byMAC[m] != ip {
				missing++
				if missing <= 5 {
					t.Errorf("ACKed %s -> %s, database has %q", m, ip, byMAC[m])
				}
			}
		}
	}
	for _, d := range dups {
		t.Errorf("database: %s held %s times", d[0], d[1])
	}
	t.Logf("a killed after about %v ACKs (b: %v); b ACKed %v in all; perfdhcp saw %d ACKs, %d leases in the database, %d missing, %d addresses ACKed twice, %d duplicate rows; perfdhcp's uniqueness checks: %s",
		aAcks, bBefore, bAfter, seen, len(byMAC), missing, twice, len(dups), strings.ReplaceAll(grepLines(text, "non unique"), "\n", "; "))
	if seen < 600 || bAfter <= bBefore {
		t.Errorf("too little load: %d ACKs seen, b %v -> %v", seen, bBefore, bAfter)
	}
	// bootsrv leases reads the same database.
	cfgFile := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(cfgFile, []byte(g.config(1, "1h")), 0o644)
	lo, err := exec.Command(binPath, "leases", "-config", cfgFile).CombinedOutput()
	if err != nil || strings.Count(string(lo), "\n") < len(byMAC) || !strings.Contains(string(lo), "SERVER") {
		t.Errorf("bootsrv leases: %v, %d lines", err, strings.Count(string(lo), "\n"))
	}
}

// TestPostgresRenewThroughSurvivor: udhcpc leases from server a; b joins;
// a is killed; udhcpc's unicast RENEW to a times out, it REBINDs by
// broadcast and b ACKs the same address from the database.
func TestPostgresRenewThroughSurvivor(t *testing.T) {
	requireTool(t, "busybox")
	g := newPGGroup(t, 2, "")
	a := g.start(t, 0, "20s") // T1 10s, T2 17.5s
	dir := t.TempDir()
	events, script := filepath.Join(dir, "events"), filepath.Join(dir, "script.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
case "$1" in bound|renew)
  ip addr replace "$ip/16" dev "$interface"
  echo "$1 $ip $serverid" >> `+events+` ;;
esac
exit 0
`), 0o755)
	argv := inNetns(g.cli, "busybox", "udhcpc", "-i", "c0", "-f", "-t", "5", "-s", script)
	cl := exec.Command(argv[0], argv[1:]...)
	cl.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Process.Kill(); cl.Wait() })
	read := func() string { b, _ := os.ReadFile(events); return string(b) }
	waitFor(t, 30*time.Second, "udhcpc bound by a", func() bool { return strings.Contains(read(), "bound ") })
	f := strings.Fields(read())
	if len(f) < 3 || f[2] != "10.82.0.1" {
		t.Fatalf("udhcpc events: %q", read())
	}
	ip := f[1]
	b := g.start(t, 1, "20s")
	kill9(t, a)
	want := "renew " + ip + " 10.82.0.2"
	waitFor(t, 60*time.Second, "a renewal through b", func() bool { return strings.Contains(read(), want) })
	if v := metricIn(t, g.srv[1], b, `bootsrv_dhcp_replies_total{type="ack"}`); v < 1 {
		t.Errorf("b sent %v ACKs", v)
	}
	rows := sqlRows(t, g.pg, "SELECT host(ip), server FROM bootsrv_leases WHERE expiry > now()")
	if len(rows) != 1 || rows[0][0] != ip || rows[0][1] != "b" {
		t.Errorf("database after the renewal: %v", rows)
	}
	t.Logf("udhcpc events:\n%s", read())
}

// TestPostgresRestartUnderLoad restarts PostgreSQL (an immediate
// shutdown, as a crash) in the middle of DHCP load: while it is down no
// ACK is sent and /healthz says degraded; bootsrv serves again by itself
// when it is back, and every lease a client saw ACKed is in the database.
func TestPostgresRestartUnderLoad(t *testing.T) {
	requireTool(t, "curl")
	g := newPGGroup(t, 1, "10.82.0.10/16")
	p := g.start(t, 0, "1h")
	c := &relayClient{conn: listenInNetns(t, g.cli, "10.82.0.10:67"), server: &net.UDPAddr{IP: net.IPv4(10, 82, 0, 1), Port: 67},
		giaddr: net.IPv4(10, 82, 0, 10), waiters: map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}, acked: map[string]string{}}
	defer c.conn.Close()
	go c.readLoop()
	acked := func() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.acked) }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var rounds atomic.Int64
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				c.dora()
				rounds.Add(1)
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, 60*time.Second, "150 ACKs", func() bool { return acked() >= 150 })
	if err := g.pg.StopServer(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "drops for the store", func() bool {
		return metricIn(t, g.srv[0], p, `bootsrv_dhcp_drops_total{reason="store_unavailable"}`) > 0
	})
	body, code := httpIn(t, g.srv[0], p, "/healthz")
	if code != 503 || !strings.Contains(body, "degraded: dhcp (lease store unavailable)") {
		t.Errorf("/healthz with the database down: %d %q", code, body)
	}
	if v := metricIn(t, g.srv[0], p, "bootsrv_dhcp_store_up"); v != 0 {
		t.Errorf("store_up = %v with the database down", v)
	}
	during := acked()
	if err := g.pg.StartServer(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "150 more ACKs after the restart", func() bool { return acked() >= during+150 })
	if body, code := httpIn(t, g.srv[0], p, "/healthz"); code != 200 {
		t.Errorf("/healthz after the restart: %d %q", code, body)
	}
	drops := metricIn(t, g.srv[0], p, `bootsrv_dhcp_drops_total{reason="store_unavailable"}`)
	cancel()
	wg.Wait()
	p.Stop(t)
	c.mu.Lock()
	got := c.acked
	c.mu.Unlock()
	byMAC, dups := dbLeases(t, g.pg)
	missing := 0
	for mac, ip := range got {
		if byMAC[mac] != ip {
			missing++
			if missing <= 5 {
				t.Errorf("ACKed %s -> %s, database has %q", mac, ip, byMAC[mac])
			}
		}
	}
	for _, d := range dups {
		t.Errorf("database: %s held %s times", d[0], d[1])
	}
	t.Logf("%d ACKs seen (%d before the restart), %d leases in the database, %d missing; %v store_unavailable drops, %d DORA rounds",
		len(got), during, len(byMAC), missing, drops, rounds.Load())
}

// TestPostgresMigrateConcurrently runs `bootsrv migrate` four times at
// once on an empty database: one creates the schema, the others find it.
func TestPostgresMigrateConcurrently(t *testing.T) {
	pg := startPostgres(t)
	cfg := filepath.Join(t.TempDir(), "bootsrv.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
dhcp:
  mode: server
  interface: lo
  server_ip: 10.82.0.1
  pools:
    - {subnet: 10.82.0.0/16, range: 10.82.1.0-10.82.1.10}
  lease_store: {type: postgres, dsn: %q}
`, pg.DSN("bootsrv"))), 0o644)
	const n = 4
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := exec.Command(binPath, "migrate", "-config", cfg).CombinedOutput()
			if err != nil {
				t.Errorf("migrate %d: %v\n%s", i, err, out)
			}
			outs[i] = string(out)
		})
	}
	wg.Wait()
	all := strings.Join(outs, "")
	if strings.Count(all, "migrated from version 0 to 2") != 1 || strings.Count(all, "nothing to do") != n-1 {
		t.Errorf("migrate outputs:\n%s", all)
	}
	if rows := sqlRows(t, pg, "SELECT version FROM bootsrv_schema"); len(rows) != 1 || rows[0][0] != "2" {
		t.Errorf("bootsrv_schema: %v", rows)
	}
	if rows := sqlRows(t, pg, "SELECT count(*) FROM bootsrv_leases"); len(rows) != 1 || rows[0][0] != "0" {
		t.Errorf("bootsrv_leases: %v", rows)
	}
}
