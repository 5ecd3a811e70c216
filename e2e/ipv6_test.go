package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// v6Net is a server and a client namespace joined by a veth pair, s0 in
// the server's and c0 in the client's, with global IPv6 addresses, the
// automatic link-local ones and IPv4 addresses (for the dual-stack
// checks), and bootsrv running in the server namespace on [::].
type v6Net struct {
	srv, cli       string // namespace names
	srvIP, cliIP   string // global IPv6
	srvLL, cliLL   string // link-local, without zone
	srvIP4, cliIP4 string
	proc           *bootsrvProc
}

// newV6Net builds the namespaces. DAD is off in them (accept_dad=0 before
// the veth exists, nodad on the global addresses), so every address is
// usable as soon as the links are up.
func newV6Net(t *testing.T) *v6Net {
	t.Helper()
	requireRoot(t)
	n := &v6Net{srv: newNetns(t), cli: newNetns(t), srvIP: "2001:db8:14::1", cliIP: "2001:db8:14::2",
		srvIP4: "10.14.0.1", cliIP4: "10.14.0.2"}
	for _, ns := range []string{n.srv, n.cli} {
		mustRun(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	veth(t, n.srv, "s0", n.srvIP4+"/24", n.cli, "c0", n.cliIP4+"/24")
	mustRun(t, "ip", "-n", n.srv, "addr", "add", n.srvIP+"/64", "dev", "s0", "nodad")
	mustRun(t, "ip", "-n", n.cli, "addr", "add", n.cliIP+"/64", "dev", "c0", "nodad")
	n.srvLL, n.cliLL = linkLocal(t, n.srv, "s0"), linkLocal(t, n.cli, "c0")
	return n
}

// linkLocal is the kernel's link-local address of interface ifc in ns.
func linkLocal(t *testing.T, ns, ifc string) string {
	t.Helper()
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			Tentative bool   `json:"tentative"`
		} `json:"addr_info"`
	}
	out := mustRun(t, "ip", "-n", ns, "-j", "-6", "addr", "show", "dev", ifc, "scope", "link")
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("ip -j addr: %v\n%s", err, out)
	}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if a.Local != "" && !a.Tentative {
				return a.Local
			}
		}
	}
	t.Fatalf("%s in %s has no usable link-local address:\n%s", ifc, ns, out)
	return ""
}

// start runs bootsrv in the server namespace with the given listen
// addresses and config.
func (n *v6Net) start(t *testing.T, config string, files map[string][]byte, tftp, ftp string) {
	t.Helper()
	n.proc = startBootsrv(t, bootsrvOpts{Config: config, Files: files, Netns: n.srv, NoDefaultAddrs: true,
		Args: []string{"-tftp-addr", tftp, "-ftp-addr", ftp, "-http-addr", "[::]:8080"}})
}

// client runs a program in the client namespace.
func (n *v6Net) client(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	return runTool(t, 2*time.Minute, "ip", append([]string{"netns", "exec", n.cli, name}, args...)...)
}

// metric reads one series from /metrics inside the server namespace.
func (n *v6Net) metric(t *testing.T, series string) string {
	t.Helper()
	out := mustRun(t, "ip", "netns", "exec", n.srv, "curl", "-sS", "http://[::1]:8080/metrics")
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return "0"
}

// waitMetric waits until series reaches at least want: the server counts
// a transfer once its last packet is handled, which the client need not
// wait for.
func (n *v6Net) waitMetric(t *testing.T, series string, want int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if fmt.Sscan(n.metric(t, series), &got); got >= want {
			return
		}
	}
	t.Errorf("%s = %d, want >= %d", series, got, want)
}

// TestIPv6TFTPAndHTTP: curl, tftp-hpa and atftp fetch a file over TFTP
// from bootsrv listening on [::]:69, by its global IPv6 address and by its
// link-local one with the zone (fe80::...%c0), and curl over HTTP from
// [::]:8080 the same ways, byte for byte. Each transfer is answered from
// the address asked (clients refuse a reply from another) and logged with
// the client's IPv6 address, the link-local one with the server's zone;
// an IPv4 client of the same listeners is logged as IPv4. A boot script
// fetched over IPv6 gets bracketed URLs without zone.
func TestIPv6TFTPAndHTTP(t *testing.T) {
	for _, tool := range []string{"curl", "tftp", "atftp"} {
		requireTool(t, tool)
	}
	n := newV6Net(t)
	data := randomBytes(3<<20 + 4321)
	want := sha256Hex(data)
	config := "scripts:\n  - name: boot.ipxe\n    template: \"server={{.ServerIP}} base={{.HTTPBase}} images={{.ImagesURL}}\"\n"
	n.start(t, config, map[string][]byte{"boot/image.bin": data}, "[::]:69", "off")
	hosts := map[string]struct{ url, arg string }{
		"global":     {"[" + n.srvIP + "]", n.srvIP},
		"link-local": {"[" + n.srvLL + "%25c0]", n.srvLL + "%c0"},
	}
	out := t.TempDir()
	fetches := map[string]int{} // by service
	for hostName, h := range hosts {
		for name, tc := range map[string]struct {
			service string
			argv    []string
		}{
			"curl tftp": {"tftp", []string{"curl", "-sS", "-g", "--tftp-blksize", "1468", "-o", "OUT", "tftp://" + h.url + "/boot/image.bin"}},
			"tftp-hpa":  {"tftp", []string{"tftp", "-6", "-m", "binary", h.arg, "-c", "get", "boot/image.bin", "OUT"}},
			"atftp":     {"tftp", []string{"atftp", "--option", "blksize 1468", "--option", "tsize 0", "-g", "-r", "boot/image.bin", "-l", "OUT", h.arg, "69"}},
			"curl http": {"http", []string{"curl", "-sS", "-g", "-f", "-o", "OUT", "http://" + h.url + ":8080/images/boot/image.bin"}},
		} {
			t.Run(name+" "+hostName, func(t *testing.T) {
				dst := filepath.Join(out, strings.ReplaceAll(name+"-"+hostName, " ", "-"))
				for i, a := range tc.argv {
					tc.argv[i] = strings.Replace(a, "OUT", dst, 1)
				}
				if o, err := n.client(t, tc.argv[0], tc.argv[1:]...); err != nil {
					t.Fatalf("%v: %v\n%s", tc.argv, err, o)
				}
				if got := fileSHA256(t, dst); got != want {
					t.Fatalf("sha256 %s, want %s", got, want)
				}
				fetches[tc.service]++
			})
		}
	}
	// IPv4 through the same [::] listeners.
	for _, url := range []string{"tftp://" + n.srvIP4 + "/boot/image.bin", "http://" + n.srvIP4 + ":8080/images/boot/image.bin"} {
		dst := filepath.Join(out, "v4")
		if o, err := n.client(t, "curl", "-sS", "-f", "-o", dst, url); err != nil || fileSHA256(t, dst) != want {
			t.Fatalf("curl %s: %v\n%s", url, err, o)
		}
	}
	n.waitMetric(t, `bootsrv_tftp_transfers_total{direction="download",result="ok"}`, fetches["tftp"]+1)
	n.waitMetric(t, `bootsrv_http_transfers_total{result="ok"}`, fetches["http"]+1)

	// The boot script's URLs: bracketed, and no zone of the server's.
	for hostName, h := range hosts {
		o, err := n.client(t, "curl", "-sS", "-g", "-f", "http://"+h.url+":8080/images/boot.ipxe")
		addr := map[string]string{"global": n.srvIP, "link-local": n.srvLL}[hostName]
		if wantScript := fmt.Sprintf("server=%s base=http://[%s]:8080 images=http://[%s]:8080/images", addr, addr, addr); err != nil || o != wantScript {
			t.Errorf("boot script over %s: %q %v, want %q", hostName, o, err, wantScript)
		}
	}

	logs := n.proc.Logs()
	for _, peer := range []string{"[" + n.cliIP + "]:", "[" + n.cliLL + "%s0]:", n.cliIP4 + ":"} {
		for _, msg := range []string{"tftp transfer", "http transfer"} {
			if !logged(logs, msg, `"peer":"`+peer) {
				t.Errorf("no %q line with peer %s", msg, peer)
			}
		}
	}
	if !logged(logs, "tftp transfer", `"blksize":1448`) {
		t.Error("no IPv6 TFTP transfer with blksize 1448 (MTU 1500 less 52 bytes of headers)")
	}
	if strings.Contains(logs, "::ffff:") || strings.Contains(logs, "tftp request refused") {
		t.Errorf("an IPv4-mapped address or a refusal in the log:\n%s", logs)
	}
}

// logged reports whether a log line with message msg contains field.
func logged(logs, msg, field string) bool {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"message":"`+msg+`"`) && strings.Contains(l, field) {
			return true
		}
	}
	return false
}

// TestIPv6FTP: lftp and curl fetch over FTP from bootsrv on [::]:21 by its
// global IPv6 address with EPSV and with EPRT, and by its link-local
// address with EPSV. EPRT to a link-local client gets 502 (the server
// cannot dial a zone through its FTP library), and lftp then switches to
// EPSV by itself. An IPv4 client of the same listener keeps PASV.
// Sessions are logged with the client's address.
func TestIPv6FTP(t *testing.T) {
	requireTool(t, "curl")
	requireTool(t, "lftp")
	n := newV6Net(t)
	data := randomBytes(2<<20 + 99)
	want := sha256Hex(data)
	n.start(t, ftpConfig(t), map[string][]byte{"fw/image.bin": data}, "off", "[::]:21")
	global, ll := "["+n.srvIP+"]", "["+n.srvLL+"%25c0]"
	lftp := func(url, settings, dst string) []string {
		// Two tries: after a refused EPRT lftp switches to passive mode
		// and tries again, at once.
		return []string{"lftp", "-d", "-e", "set cmd:fail-exit yes; set net:max-retries 2; set net:reconnect-interval-base 0; " + settings +
			"get fw/image.bin -o " + dst + "; bye", "ftp://" + url}
	}
	out := t.TempDir()
	tests := map[string]struct {
		argv func(dst string) []string
		sent []string // command lines the client must have sent
		got  []string // replies it must have got
	}{
		"curl EPSV global": {argv: func(d string) []string {
			return []string{"curl", "-sS", "-v", "-g", "-o", d, "ftp://" + global + "/fw/image.bin"}
		},
			sent: []string{"> EPSV"}},
		"curl EPRT global": {argv: func(d string) []string {
			return []string{"curl", "-sS", "-v", "-g", "--ftp-port", n.cliIP, "-o", d, "ftp://" + global + "/fw/image.bin"}
		}, sent: []string{"> EPRT |2|" + n.cliIP + "|"}, got: []string{"< 200 EPRT command successful"}},
		"curl EPSV link-local": {argv: func(d string) []string {
			return []string{"curl", "-sS", "-v", "-g", "-o", d, "ftp://" + ll + "/fw/image.bin"}
		},
			sent: []string{"> EPSV"}},
		"lftp EPSV global":     {argv: func(d string) []string { return lftp(global, "", d) }, sent: []string{"---> EPSV"}},
		"lftp EPRT global":     {argv: func(d string) []string { return lftp(global, "set ftp:passive-mode off; ", d) }, sent: []string{"---> EPRT |2|" + n.cliIP + "|"}},
		"lftp EPSV link-local": {argv: func(d string) []string { return lftp(ll, "", d) }, sent: []string{"---> EPSV"}},
		"lftp EPRT link-local": {argv: func(d string) []string { return lftp(ll, "set ftp:passive-mode off; ", d) },
			sent: []string{"---> EPRT |2|" + n.cliLL, "---> EPSV"}, got: []string{"<--- 502 Active mode cannot reach link-local addresses; use EPSV."}},
		"curl PASV IPv4": {argv: func(d string) []string {
			return []string{"curl", "-sS", "-v", "--disable-epsv", "-o", d, "ftp://" + n.srvIP4 + "/fw/image.bin"}
		}, sent: []string{"> PASV"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(out, strings.ReplaceAll(name, " ", "-"))
			argv := tc.argv(dst)
			o, err := n.client(t, argv[0], argv[1:]...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", argv, err, o)
			}
			if got := fileSHA256(t, dst); got != want {
				t.Fatalf("sha256 %s, want %s\n%s", got, want, o)
			}
			for _, s := range append(tc.sent, tc.got...) {
				if !strings.Contains(o, s) {
					t.Errorf("no %q in the client's trace:\n%s", s, o)
				}
			}
		})
	}
	n.waitMetric(t, `bootsrv_ftp_transfers_total{direction="download",result="ok"}`, len(tests))
	if v := n.metric(t, `bootsrv_ftp_refusals_total{reason="unsupported_command"}`); v != "1" {
		t.Errorf("unsupported refusals = %s, want 1 (lftp's link-local EPRT)", v)
	}
	n.proc.Stop(t) // every session's log line is out
	logs := n.proc.Logs()
	for _, remote := range []string{"[" + n.cliIP + "]:", "[" + n.cliLL + "%s0]:", n.cliIP4 + ":"} {
		if !logged(logs, "ftp session", `"remote":"`+remote) {
			t.Errorf("no session logged with remote %s", remote)
		}
	}
	if strings.Contains(logs, "::ffff:") {
		t.Errorf("an IPv4-mapped address in the log:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(n.proc.Root, "fw/image.bin")); err != nil {
		t.Error(err)
	}
}
