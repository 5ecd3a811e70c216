package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ftpNet is a server namespace with a bridge and two client namespaces on
// it: A (the FTP client) and B (a third party, the attacker).
type ftpNet struct {
	srv, a, b         string // namespace names
	srvIP, aIP, bIP   string
	proc              *bootsrvProc
	httpAddr, ftpAddr string
}

// newFTPNet builds the namespaces and runs bootsrv in the server one, FTP
// on port 21 of the bridge address (nmap's ftp scripts only run on 21).
func newFTPNet(t *testing.T, files map[string][]byte) *ftpNet {
	t.Helper()
	requireRoot(t)
	requireTool(t, "python3")
	n := &ftpNet{srv: newNetns(t), a: newNetns(t), b: newNetns(t),
		srvIP: "10.99.0.1", aIP: "10.99.0.2", bIP: "10.99.0.3"}
	veth(t, n.srv, "pa", "", n.a, "eth0", n.aIP+"/24")
	veth(t, n.srv, "pb", "", n.b, "eth0", n.bIP+"/24")
	bridge(t, n.srv, n.srvIP+"/24", "pa", "pb")
	n.ftpAddr = n.srvIP + ":21"
	n.proc = startBootsrv(t, bootsrvOpts{
		Config: ftpConfig(t), Files: files, Netns: n.srv, NoDefaultAddrs: true,
		Args: []string{"-ftp-addr", n.ftpAddr, "-tftp-addr", "off", "-http-addr", "127.0.0.1:0"},
	})
	n.httpAddr = n.proc.Addr("http")
	return n
}

// metric reads one series from /metrics, fetched inside the server
// namespace (its HTTP listener is on that namespace's loopback).
func (n *ftpNet) metric(t *testing.T, series string) string {
	t.Helper()
	out := mustRun(t, "ip", "netns", "exec", n.srv, "curl", "-sS", "http://"+n.httpAddr+"/metrics")
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return "0"
}

// lineProc is a helper process whose stdout is read line by line.
type lineProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	name  string
	stdin io.WriteCloser
	lines chan string
}

func startLineProc(t *testing.T, argv ...string) *lineProc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &lineProc{t: t, cmd: cmd, name: argv[min(6, len(argv)-1)], stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if stderr.Len() > 0 {
			t.Logf("%s stderr: %s", strings.Join(argv, " "), stderr.String())
		}
	})
	return p
}

// next returns the next output line starting with prefix, failing after
// the deadline or when the process ends first.
func (p *lineProc) next(prefix string, d time.Duration) string {
	p.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%v ended before printing %q", p.cmd.Args, prefix)
			}
			p.t.Logf("%s: %s", p.name, l)
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			p.t.Fatalf("%v: no %q line within %v", p.cmd.Args, prefix, d)
		}
	}
}

func netnsHelper(ns string, args ...string) []string {
	return inNetns(ns, append([]string{"python3", "testdata/ftp_netns.py"}, args...)...)
}

// TestFTPNetnsBounceRefused: a client in A names B's address in PORT and
// EPRT; both are refused with 500 and B's listener never sees a
// connection, while PORT to A's own address works (the control case).
func TestFTPNetnsBounceRefused(t *testing.T) {
	n := newFTPNet(t, map[string][]byte{"a.txt": []byte("hello")})
	victim := startLineProc(t, netnsHelper(n.b, "listen", n.bIP, "2121")...)
	victim.next("ready", 20*time.Second)
	client := startLineProc(t, netnsHelper(n.a, "bounce", n.srvIP, "21", n.bIP, "2121")...)
	for _, verb := range []string{"PORT", "EPRT"} {
		if l := client.next(verb, 30*time.Second); l != verb+" 500" {
			t.Errorf("%s naming B: %q, want 500", verb, l)
		}
	}
	if l := client.next("OWNPORT", 30*time.Second); l != "OWNPORT 200" {
		t.Errorf("PORT to the client's own address: %q", l)
	}
	if l := client.next("OWNLIST", 30*time.Second); !strings.HasPrefix(l, "OWNLIST 150 226 ") || strings.HasSuffix(l, " 0") {
		t.Errorf("NLST over PORT to own address: %q", l)
	}
	victim.stdin.Close()
	if l := victim.next("accepted", 20*time.Second); l != "accepted 0" {
		t.Errorf("B's listener: %q, want no connection", l)
	}
	if v := n.metric(t, `bootsrv_ftp_refusals_total{reason="port_refused"}`); v != "2" {
		t.Errorf("port_refused refusals = %s, want 2", v)
	}
}

// TestFTPNetnsPassiveHijack: A enters PASV; B connects to the announced
// port before A does. B's connection is closed without a byte, and A's
// RETR still succeeds with the whole file.
func TestFTPNetnsPassiveHijack(t *testing.T) {
	data := randomBytes(1<<20 + 3)
	n := newFTPNet(t, map[string][]byte{"fw.bin": data})
	client := startLineProc(t, netnsHelper(n.a, "pasv", n.srvIP, "21", "fw.bin")...)
	var port int
	var host string
	if _, err := fmt.Sscanf(client.next("port", 30*time.Second), "port %d %s", &port, &host); err != nil || host != n.srvIP {
		t.Fatalf("PASV reply: port %d host %q: %v", port, host, err)
	}
	thief := startLineProc(t, netnsHelper(n.b, "steal", n.srvIP, fmt.Sprint(port))...)
	thief.next("connected", 20*time.Second) // queued on the listener before A's
	io.WriteString(client.stdin, "go\n")
	if l := client.next("RETR", 30*time.Second); l != "RETR 150" {
		t.Fatalf("A's RETR: %q", l)
	}
	if l := client.next("data", 30*time.Second); l != fmt.Sprintf("data %d %s", len(data), sha256Hex(data)) {
		t.Errorf("A's data: %q", l)
	}
	if l := client.next("final", 30*time.Second); l != "final 226" {
		t.Errorf("A's final reply: %q", l)
	}
	l := thief.next("stolen", 40*time.Second)
	if l != "stolen 0 eof" && l != "stolen 0 reset" {
		t.Errorf("B's connection: %q, want closed with no data", l)
	}
	if v := n.metric(t, `bootsrv_ftp_refusals_total{reason="foreign_data_connection"}`); v != "1" {
		t.Errorf("foreign_data_connection refusals = %s, want 1", v)
	}
	if !strings.Contains(n.proc.Logs(), "refused passive data connection from a foreign address") {
		t.Error("no log line for the refused passive connection")
	}
}

// TestFTPNetnsNmap runs nmap's FTP scripts from A against bootsrv on port
// 21: ftp-anon must find anonymous login but nothing writeable, ftp-syst
// must reveal no software name or version, ftp-bounce must not report a
// working bounce (its checkhost is B, inside our namespaces), and
// ftp-brute must find no credentials while bootsrv disconnects it.
func TestFTPNetnsNmap(t *testing.T) {
	requireTool(t, "nmap")
	n := newFTPNet(t, map[string][]byte{"pub/a.txt": []byte("hello"), "boot.ipxe": []byte("#!ipxe\n")})
	args := []string{"nmap", "-Pn", "-n", "-sT", "-p", "21", "--script-timeout", "90s", "--script-trace",
		"--script", "ftp-anon,ftp-syst,ftp-bounce,ftp-brute",
		"--script-args", "ftp-bounce.checkhost=" + n.bIP + ",brute.firstonly=true,unpwdb.userlimit=3,unpwdb.passlimit=3,unpwdb.timelimit=60s,ftp-brute.timeout=5s",
		n.srvIP}
	out, err := runTool(t, 3*time.Minute, "ip", inNetns(n.a, args...)[1:]...)
	report := out[max(0, strings.Index(out, "Nmap scan report")):]
	t.Logf("nmap report:\n%s", report)
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	// What bootsrv said on the control connections, from the trace.
	var replies []string
	for _, l := range strings.Split(out, "\n") {
		if _, r, ok := strings.Cut(l, "READ SUCCESS for EID"); ok && strings.Contains(r, "["+n.ftpAddr+"]") {
			_, text, _ := strings.Cut(r, "): ")
			replies = append(replies, strings.TrimSpace(text))
		}
	}
	all := strings.ToLower(strings.Join(replies, "\n"))
	for _, leak := range []string{"bootsrv", "ftpserver", "fclairamb", "golang", "go1."} {
		if strings.Contains(all, leak) {
			t.Errorf("a reply reveals %q:\n%s", leak, all)
		}
	}
	if !strings.Contains(all, "215 unix type: l8") {
		t.Errorf("ftp-syst's SYST got no plain 215 UNIX Type: L8 reply:\n%s", all)
	}
	if strings.Contains(report, "ftp-syst:") {
		t.Error("ftp-syst reported system details")
	}
	// ftp-anon: logged in anonymously, listed, nothing writeable.
	if !strings.Contains(report, "Anonymous FTP login allowed (FTP code 230)") || !strings.Contains(report, "boot.ipxe") {
		t.Error("ftp-anon did not log in and list")
	}
	if strings.Contains(report, "writeable") {
		t.Error("ftp-anon found something writeable")
	}
	// ftp-bounce: PORT naming B is refused, so it reports nothing.
	if strings.Contains(report, "ftp-bounce") || !strings.Contains(out, "[ftp-bounce] PORT response: 500") {
		t.Error("ftp-bounce did not see its PORT refused with 500")
	}
	if v := n.metric(t, `bootsrv_ftp_refusals_total{reason="port_refused"}`); v != "1" {
		t.Errorf("port_refused refusals = %s, want 1 (ftp-bounce's PORT)", v)
	}
	// ftp-brute: every guess answered "530 Login incorrect" (after the
	// login failure delay) and counted; none found.
	var guesses int
	if i := strings.Index(report, "Performed "); i < 0 {
		t.Fatal("ftp-brute did not run")
	} else {
		fmt.Sscanf(report[i:], "Performed %d guesses", &guesses)
	}
	if !strings.Contains(report, "No valid accounts found") || guesses == 0 {
		t.Errorf("ftp-brute: %d guesses, or found an account", guesses)
	}
	// The server counts every guess it refused ("No valid accounts
	// found" above: none got in). nmap may give up waiting for some of the
	// (delayed) 530s on a loaded machine, so its trace can hold fewer.
	if v := n.metric(t, `bootsrv_ftp_logins_total{result="failure"}`); v != fmt.Sprint(guesses) {
		t.Errorf("login failures metric = %s, nmap made %d guesses", v, guesses)
	}
}
