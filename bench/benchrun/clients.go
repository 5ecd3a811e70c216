package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// client is a client command run in the server namespace.
func (e *env) client(args ...string) *exec.Cmd { return e.inNS(e.srvNS, args...) }

// inNS is a command run in namespace ns, killed if the run is interrupted.
func (e *env) inNS(ns string, args ...string) *exec.Cmd {
	return exec.CommandContext(e.ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// timeToFile times one client that writes name to the path given as {out},
// then checks the file's sha256 outside the timed part.
func (e *env) timeToFile(name string, args ...string) caseResult {
	out := filepath.Join(e.work, "out", name)
	defer os.Remove(out)
	os.Remove(out)
	argv := make([]string, len(args))
	for i, a := range args {
		argv[i] = strings.ReplaceAll(a, "{out}", out)
	}
	cmd := e.client(argv...)
	t := time.Now()
	msg, err := cmd.CombinedOutput()
	d := time.Since(t).Seconds()
	if err != nil {
		e.logf("  %s: %v: %s", args[0], err, strings.TrimSpace(string(msg)))
		return caseResult{value: d, failures: 1, clientCPU: cpuOf(cmd)}
	}
	if sum, err := fileSum(out); err != nil || sum != e.files[name].sum {
		e.logf("  %s: content differs from %s (%v)", args[0], name, err)
		return caseResult{value: d, failures: 1, clientCPU: cpuOf(cmd)}
	}
	return caseResult{value: d, clientCPU: cpuOf(cmd)}
}

// cpuOf is the user and system CPU time of a finished command and of the
// children it waited for, in seconds; 0 when it did not run.
func cpuOf(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

// fetch runs one client that writes name to stdout and reports whether
// what it wrote has name's sha256, and the client's CPU time.
func (e *env) fetch(name string, args ...string) (float64, error) {
	cmd := e.client(args...)
	var errb strings.Builder
	cmd.Stderr = &errb
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	h := sha256.New()
	n, cerr := io.Copy(h, pipe)
	if err := cmd.Wait(); err != nil {
		return cpuOf(cmd), fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	if cerr != nil {
		return cpuOf(cmd), cerr
	}
	if hex.EncodeToString(h.Sum(nil)) != e.files[name].sum {
		return cpuOf(cmd), fmt.Errorf("%d bytes, content differs from %s", n, name)
	}
	return cpuOf(cmd), nil
}

// concurrent starts n clients at once and times until the last one ends.
func (e *env) concurrent(n int, name string, args ...string) caseResult {
	var wg sync.WaitGroup
	errs := make([]error, n)
	cpu := make([]float64, n)
	t := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cpu[i], errs[i] = e.fetch(name, args...)
		}()
	}
	wg.Wait()
	r := e.tally(time.Since(t).Seconds(), errs)
	for _, c := range cpu {
		r.clientCPU += c
	}
	return r
}

// ftpSessionsPy is one client process that runs n FTP sessions in turn
// with CPython's ftplib (connect, anonymous login, TYPE I, PASV, RETR,
// QUIT) and prints each download's sha256. curl is not used for this row:
// curl 7.88 now and then waits a whole second in poll() between the EPSV
// reply and its data connection, and those stalls, not the servers,
// decided the row.
const ftpSessionsPy = `
import ftplib, hashlib, sys
host, port, name, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
for _ in range(n):
    h = hashlib.sha256()
    f = ftplib.FTP(timeout=60)
    f.connect(host, port)
    f.login()
    f.retrbinary("RETR " + name, h.update)
    f.quit()
    print(h.hexdigest(), flush=True)
`

// sessions times n sequential FTP sessions, each downloading name, from
// one client process, and checks every download.
func (e *env) sessions(n int, name string, port int) caseResult {
	cmd := e.client("python3", "-c", ftpSessionsPy, "127.0.0.1", fmt.Sprint(port), name, fmt.Sprint(n))
	var errb strings.Builder
	cmd.Stderr = &errb
	t := time.Now()
	out, err := cmd.Output()
	d := time.Since(t).Seconds()
	errs := make([]error, n)
	sums := strings.Fields(string(out))
	for i := range errs {
		switch {
		case i >= len(sums):
			errs[i] = fmt.Errorf("session %d did not finish: %v: %s", i+1, err, strings.TrimSpace(errb.String()))
		case sums[i] != e.files[name].sum:
			errs[i] = fmt.Errorf("session %d: content differs from %s", i+1, name)
		}
	}
	r := e.tally(d, errs)
	r.clientCPU = cpuOf(cmd)
	return r
}

func (e *env) tally(d float64, errs []error) caseResult {
	r := caseResult{value: d}
	for _, err := range errs {
		if err != nil {
			if r.failures < 3 {
				e.logf("  client: %v", err)
			}
			r.failures++
		}
	}
	if r.failures > 0 {
		r.note = fmt.Sprintf("%d/%d failed", r.failures, len(errs))
	}
	return r
}

// upload stores name as a new file in the upload folder with curl -T,
// then checks what landed there and removes it.
func (e *env) upload(srv string, rep int, name string) caseResult {
	dst := fmt.Sprintf("up-%s-%d-%d.bin", srv, rep, time.Now().UnixNano())
	landed := filepath.Join(e.img, "incoming", dst)
	defer os.Remove(landed)
	cmd := e.client(ftpArgv("-T", filepath.Join(e.img, name),
		fmt.Sprintf("ftp://127.0.0.1:%d/incoming/%s", ftpPorts[srv], dst))...)
	t := time.Now()
	msg, err := cmd.CombinedOutput()
	d := time.Since(t).Seconds()
	if err != nil {
		e.logf("  curl -T: %v: %s", err, strings.TrimSpace(string(msg)))
		return caseResult{value: d, failures: 1, clientCPU: cpuOf(cmd)}
	}
	if sum, err := fileSum(landed); err != nil || sum != e.files[name].sum {
		e.logf("  upload to %s: stored file differs (%v)", srv, err)
		return caseResult{value: d, failures: 1, clientCPU: cpuOf(cmd)}
	}
	return caseResult{value: d, clientCPU: cpuOf(cmd)}
}

var oackRE = regexp.MustCompile(`received OACK <([^>]*)>`)

// windowProbe asks for windowsize 16 once with atftp --trace and reports
// what the server's OACK granted: servers without RFC 7440 leave the option
// out and the transfer runs in lock-step (window 1).
func (e *env) windowProbe(srv string) string {
	out, _ := e.client("atftp", "--trace", "--option", "blksize 1468", "--option", "windowsize 16",
		"--get", "-r", "ready.txt", "-l", "/dev/null", "127.0.0.1", fmt.Sprint(tftpPorts[srv])).CombinedOutput()
	m := oackRE.FindSubmatch(out)
	switch {
	case m == nil:
		return "no OACK seen"
	case strings.Contains(string(m[1]), "windowsize: 16"):
		return "windowsize 16 granted"
	default:
		return "no windowsize (lock-step)"
	}
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// setLoss drops 1% of the packets on the server namespace's loopback:
// with netem when the kernel has it, else with an nftables rule that drops
// 1% of UDP packets at the input hook (each loopback packet passes it
// once). It returns how.
func (e *env) setLoss() (string, error) {
	if err := e.probe("tc", "qdisc", "add", "dev", "lo", "root", "netem", "loss", "1%"); err == nil {
		return "netem loss 1% on lo", nil
	}
	rules := []string{
		"add table inet bsvloss",
		"add chain inet bsvloss in { type filter hook input priority 0; }",
		"add rule inet bsvloss in iifname lo meta l4proto udp numgen random mod 100 < 1 drop",
	}
	for _, r := range rules {
		if err := e.probe("nft", r); err != nil {
			e.clearLoss()
			return "", fmt.Errorf("nft %s: %w", r, err)
		}
	}
	return "nftables: numgen random mod 100 < 1 drop, UDP on lo (netem unavailable)", nil
}

func (e *env) clearLoss() {
	e.probe("tc", "qdisc", "del", "dev", "lo", "root")
	e.probe("nft", "delete", "table", "inet", "bsvloss")
}
