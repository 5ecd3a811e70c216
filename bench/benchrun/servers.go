package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Where each server listens inside the server namespace. dnsmasq's TFTP
// port cannot be changed, so it has 69.
const (
	portBootsrvTFTP = 6901
	portHPA         = 6902
	portAtftpd      = 6903
	portDnsmasq     = 69
	portBootsrvFTP  = 2101
	portVsftpd      = 2102
)

// Server names, as they appear in the table.
const (
	bootsrv  = "bootsrv"
	hpa      = "tftpd-hpa"
	dnsmasq  = "dnsmasq"
	atftpd   = "atftpd"
	vsftpd   = "vsftpd"
	keaDHCP4 = "kea-dhcp4"
	keaDHCP6 = "kea-dhcp6"
)

var tftpPorts = map[string]int{bootsrv: portBootsrvTFTP, hpa: portHPA, atftpd: portAtftpd, dnsmasq: portDnsmasq}
var ftpPorts = map[string]int{bootsrv: portBootsrvFTP, vsftpd: portVsftpd}

// startServer starts one server for a row group (tftp, ftp, dhcp) and
// waits until it answers.
func (e *env) startServer(name, group string) (*proc, error) {
	var p *proc
	var err error
	switch name {
	case bootsrv:
		p, err = e.startBootsrv(group)
	case hpa:
		// -L foreground, -s chroot into the store, -a address:port.
		p, err = e.startProc(name, e.srvNS, nil, "in.tftpd", "-L", "-s", e.img, "-a", fmt.Sprintf("127.0.0.1:%d", portHPA))
	case dnsmasq:
		// --tftp-max: the default of 50 concurrent transfers would refuse storms.
		p, err = e.startProc(name, e.srvNS, nil, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
			"--port=0", "--enable-tftp", "--tftp-root="+e.img, "--listen-address=127.0.0.1", "--bind-interfaces",
			"--tftp-max=2000", "--user=root", "--pid-file=", "--log-facility="+filepath.Join(e.work, "logs", "dnsmasq-syslog.log"))
	case atftpd:
		// --maxthread: the default of 100 concurrent transfers would refuse storms.
		p, err = e.startProc(name, e.srvNS, nil, e.atftpd, "--daemon", "--no-fork", "--bind-address", "127.0.0.1",
			"--port", fmt.Sprint(portAtftpd), "--maxthread", "2000", "--user", "nobody", "--group", "nogroup",
			"--logfile", "/dev/null", e.img)
	case vsftpd:
		conf, cerr := e.vsftpdConf()
		if cerr != nil {
			return nil, cerr
		}
		p, err = e.startProc(name, e.srvNS, nil, "vsftpd", conf)
	case keaDHCP4:
		conf, cerr := e.keaConf(group == "dhcp-pg")
		if cerr != nil {
			return nil, cerr
		}
		p, err = e.startProc(name, e.srvNS, []string{"KEA_PIDFILE_DIR=" + e.work, "KEA_LOCKFILE_DIR=" + e.work}, "kea-dhcp4", "-c", conf)
	case keaDHCP6:
		conf, cerr := e.keaConf6()
		if cerr != nil {
			return nil, cerr
		}
		p, err = e.startProc(name, e.srvNS, []string{"KEA_PIDFILE_DIR=" + e.work, "KEA_LOCKFILE_DIR=" + e.work}, "kea-dhcp6", "-c", conf)
	default:
		return nil, fmt.Errorf("unknown server %q", name)
	}
	if err != nil {
		return nil, err
	}
	var probe func() error
	switch group {
	case "tftp":
		probe = func() error {
			return e.probe("curl", "-sf", "-m", "1", "-o", "/dev/null", fmt.Sprintf("tftp://127.0.0.1:%d/ready.txt", tftpPorts[name]))
		}
	case "ftp":
		probe = func() error {
			return e.probe("curl", "-sf", "-m", "2", "-o", "/dev/null", fmt.Sprintf("ftp://127.0.0.1:%d/ready.txt", ftpPorts[name]))
		}
	case "dhcp", "dhcp-pg", "dhcp6":
		port := map[bool]string{false: "67", true: "547"}[group == "dhcp6"]
		probe = func() error {
			out, err := exec.Command("ip", "netns", "exec", e.srvNS, "ss", "-Hlun", "sport", "=", ":"+port).Output()
			if err == nil && len(strings.TrimSpace(string(out))) == 0 {
				err = fmt.Errorf("nothing bound to udp port %s", port)
			}
			return err
		}
	}
	if err := p.waitReady(probe); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (e *env) probe(args ...string) error {
	out, err := exec.CommandContext(e.ctx, "ip", append([]string{"netns", "exec", e.srvNS}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// startBootsrv runs the measured binary with only the group's service on.
// Logs at warn: the peers log nothing per transfer either.
func (e *env) startBootsrv(group string) (*proc, error) {
	conf := filepath.Join(e.work, "bootsrv-"+group+".yaml")
	tftpListen, ftpListen := "off", "off"
	switch group {
	case "tftp":
		tftpListen = fmt.Sprintf("127.0.0.1:%d", portBootsrvTFTP)
	case "ftp":
		ftpListen = fmt.Sprintf("127.0.0.1:%d", portBootsrvFTP)
	}
	// FTP: anonymous uploads into images.uploads, as vsftpd's anon_upload;
	// 50 concurrent sessions from one address exceed the default cap of 20.
	// TFTP: every client of a storm is 127.0.0.1, one address, where the
	// per-address caps (32 transfers, 4 of them unanswered) stand for one
	// host; the peers have no such caps. A storm of hundreds of machines
	// comes from hundreds of addresses, so the caps are off here.
	y := fmt.Sprintf(`log: {level: warn}
http: {listen: "off"}
tftp: {listen: %q, max_transfers_per_ip: -1, max_unverified_per_ip: -1}
ftp:
  listen: %q
  passive_ports: 30000-30999
  anonymous: {enabled: true, root: /, upload: true}
  limits: {max_sessions_per_ip: 500}
`, tftpListen, ftpListen)
	switch group {
	case "dhcp", "dhcp-pg":
		y += e.bootsrvDHCP(group == "dhcp-pg")
	case "dhcp6":
		y += e.bootsrvDHCP6()
	}
	if err := os.WriteFile(conf, []byte(y), 0o644); err != nil {
		return nil, err
	}
	return e.startProc(bootsrv, e.srvNS, nil, e.bin, "-config", conf, "-root", e.img)
}

// bootsrvDHCP is the dhcp section: leases in the bbolt file, or in the
// run's PostgreSQL server.
func (e *env) bootsrvDHCP(pg bool) string {
	store := fmt.Sprintf("lease_file: %s", filepath.Join(e.work, "bootsrv-leases.db"))
	if pg {
		store = fmt.Sprintf("lease_store: {type: postgres, dsn: %q}", e.pg.DSN("bootsrv"))
	}
	return fmt.Sprintf(`dhcp:
  mode: server
  interface: s0
  server_ip: 10.64.0.1
  %s
  authoritative: true
  pools:
    - {subnet: 10.64.0.0/10, range: 10.64.1.0-10.127.255.250, lease_time: 1h}
  # The flood guard (global 1000/s by default) would cap what the row
  # measures; kea has no such limit. Off here, on by default in bootsrv.
  rate_limit: {per_client: "off", global: "off"}
`, store)
}

// bootsrvDHCP6 is the dhcpv6 section: leases in the bbolt file, a range
// far larger than the steps use.
func (e *env) bootsrvDHCP6() string {
	return fmt.Sprintf(`dhcpv6:
  mode: server
  interface: s0
  server_ip: "fd64::1"
  lease_file: %s
  pools:
    - {subnet: "fd64::/64", range: "fd64::1:0-fd64::ffff:ffff", lease_time: 1h}
  # As for DHCPv4: the flood guard off, which kea does not have.
  rate_limit: {per_client: "off", global: "off"}
`, filepath.Join(e.work, "bootsrv-leases6.db"))
}

// keaConf6 is kea-dhcp6 with the memfile lease database persisted to a
// CSV file and lease file cleanup off, as keaConf for DHCPv4; the subnet
// is tied to s0, where perfdhcp's link-local requests arrive.
func (e *env) keaConf6() (string, error) {
	conf := filepath.Join(e.work, "kea6.json")
	c := fmt.Sprintf(`{ "Dhcp6": {
  "interfaces-config": { "interfaces": [ "s0" ] },
  "lease-database": { "type": "memfile", "persist": true, "name": %q, "lfc-interval": 0 },
  "server-id": { "type": "LL", "persist": false },
  "valid-lifetime": 3600, "preferred-lifetime": 3600,
  "subnet6": [ { "id": 1, "subnet": "fd64::/64", "interface": "s0", "pools": [ { "pool": "fd64::1:0 - fd64::ffff:ffff" } ] } ],
  "loggers": [ { "name": "kea-dhcp6", "severity": "WARN", "output_options": [ { "output": %q } ] } ]
} }
`, filepath.Join(e.work, "kea-leases6.csv"), filepath.Join(e.work, "logs", "kea-dhcp6-own.log"))
	return conf, os.WriteFile(conf, []byte(c), 0o644)
}

func (e *env) vsftpdConf() (string, error) {
	conf := filepath.Join(e.work, "vsftpd.conf")
	c := fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=%d
background=NO
anonymous_enable=YES
anon_root=%s
no_anon_password=YES
anon_upload_enable=YES
write_enable=YES
anon_umask=022
local_enable=NO
pasv_min_port=31000
pasv_max_port=31999
max_clients=0
max_per_ip=0
seccomp_sandbox=NO
secure_chroot_dir=%s
xferlog_enable=NO
`, portVsftpd, e.img, e.work)
	return conf, os.WriteFile(conf, []byte(c), 0o644)
}

// keaConf is kea-dhcp4 with the memfile lease database persisted to a CSV
// file (persist=true) and lease file cleanup (LFC) off, or, for pg, its
// PostgreSQL backend on the run's server with multi-threading on, as Kea
// recommends for database backends (a thread waits for each commit).
func (e *env) keaConf(pg bool) (string, error) {
	conf := filepath.Join(e.work, "kea.json")
	db := fmt.Sprintf(`"lease-database": { "type": "memfile", "persist": true, "name": %q, "lfc-interval": 0 },`,
		filepath.Join(e.work, "kea-leases.csv"))
	if pg {
		db = fmt.Sprintf(`"lease-database": { "type": "postgresql", "name": "kea", "user": "postgres", "host": %q },
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 8, "packet-queue-size": 64 },`, e.pg.Dir)
	}
	c := fmt.Sprintf(`{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "s0" ], "dhcp-socket-type": "udp" },
  %s
  "authoritative": true, "valid-lifetime": 3600,
  "subnet4": [ { "id": 1, "subnet": "10.64.0.0/10", "pools": [ { "pool": "10.64.1.0 - 10.127.255.250" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN", "output_options": [ { "output": %q } ] } ]
} }
`, db, filepath.Join(e.work, "logs", "kea-dhcp4-own.log"))
	return conf, os.WriteFile(conf, []byte(c), 0o644)
}

// resetLeases removes both servers' lease files, so every DHCP step starts
// from an empty database.
func (e *env) resetLeases() {
	for _, pat := range []string{"bootsrv-leases.db*", "kea-leases.csv*", "bootsrv-leases6.db*", "kea-leases6.csv*"} {
		m, _ := filepath.Glob(filepath.Join(e.work, pat))
		for _, f := range m {
			os.Remove(f)
		}
	}
}
