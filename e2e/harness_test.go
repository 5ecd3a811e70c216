package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// binPath is the bootsrv binary under test, built once by TestMain with the
// race detector so that the interop tests also hunt for data races.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bootsrv-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "bootsrv")
	build := exec.Command("go", "build", "-race", "-o", binPath, "../cmd/bootsrv")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build bootsrv:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// strictE2E is true in CI, where a missing client is a failure.
func strictE2E() bool { return os.Getenv("BOOTSRV_E2E") == "1" }

// requireTool returns the path of a client program, skipping the test when
// it is missing (failing it under BOOTSRV_E2E=1).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if strictE2E() {
			t.Fatalf("BOOTSRV_E2E=1 but %s is not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// requireRoot skips (or under BOOTSRV_E2E=1 fails) tests that need network
// namespaces.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if strictE2E() {
			t.Fatal("BOOTSRV_E2E=1 but not running as root: network namespaces need root")
		}
		t.Skip("needs root for network namespaces")
	}
	requireTool(t, "ip")
}

// bootsrvOpts describes one bootsrv process.
type bootsrvOpts struct {
	// Config is YAML for the config file; empty runs without -config.
	Config string
	// Files are written into the image root (name -> content) before start.
	Files map[string][]byte
	// Root is the image root; default a new temporary directory.
	Root string
	// Args are extra flags, after the harness's own, so they win.
	Args []string
	// Netns runs bootsrv inside this network namespace.
	Netns string
	// NoDefaultAddrs leaves the listen addresses to Config and Args instead
	// of binding every service to 127.0.0.1:0.
	NoDefaultAddrs bool
	// Wrap is a command that runs the binary: its argv comes first, then
	// the binary and its arguments (inside Netns, when set). Every program
	// in it must exec the next, so that signals reach bootsrv.
	Wrap []string
	// Bin is the binary to run; default binPath, the race build.
	Bin string
}

// bootsrvProc is a running bootsrv.
type bootsrvProc struct {
	Root string
	// ConfigFile is the config file written from Config, "" without one.
	ConfigFile string
	cmd        *exec.Cmd
	addrs      map[string]string
	logs       *lockedBuffer
	exit       chan error
}

// startBootsrv runs the binary and returns once it has logged "ready",
// having parsed the address of every "listening" line. It is stopped with
// SIGTERM at cleanup, and the test fails unless it then exits 0 without a
// data race report.
func startBootsrv(t *testing.T, o bootsrvOpts) *bootsrvProc {
	t.Helper()
	dir := t.TempDir()
	if o.Root == "" {
		o.Root = filepath.Join(dir, "images")
		if err := os.MkdirAll(o.Root, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range o.Files {
		p := filepath.Join(o.Root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-root", o.Root, "-log-format", "json", "-log-level", "debug"}
	if !o.NoDefaultAddrs {
		args = append(args, "-tftp-addr", "127.0.0.1:0", "-ftp-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0")
	}
	configFile := ""
	if o.Config != "" {
		cfgFile := filepath.Join(dir, "bootsrv.yaml")
		if err := os.WriteFile(cfgFile, []byte(o.Config), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"-config", cfgFile}, args...)
		configFile = cfgFile
	}
	args = append(args, o.Args...)
	bin := binPath
	if o.Bin != "" {
		bin = o.Bin
	}
	argv := append(append(append([]string{}, o.Wrap...), bin), args...)
	if o.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", o.Netns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &bootsrvProc{Root: o.Root, ConfigFile: configFile, cmd: cmd, addrs: map[string]string{}, logs: &lockedBuffer{}, exit: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var addrMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		readyOnce := sync.OnceFunc(func() { close(ready) })
		for sc.Scan() {
			line := sc.Text()
			p.logs.WriteLine(line)
			var ev struct{ Message, Service, Addr string }
			if json.Unmarshal([]byte(line), &ev) != nil {
				continue
			}
			switch ev.Message {
			case "listening":
				addrMu.Lock()
				p.addrs[ev.Service] = ev.Addr
				addrMu.Unlock()
			case "ready":
				readyOnce()
			}
		}
		p.exit <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case <-ready:
	case err := <-p.exit:
		p.exit <- err
		t.Fatalf("bootsrv exited before ready: %v\n%s", err, p.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("bootsrv not ready after 60s\n%s", p.Logs())
	}
	addrMu.Lock()
	defer addrMu.Unlock()
	return p
}

// stop sends SIGTERM and checks the exit: 0, within the drain bound, and no
// race report.
func (p *bootsrvProc) stop(t *testing.T) {
	t.Helper()
	if p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-p.exit:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		err = <-p.exit
		t.Errorf("bootsrv did not exit within 20s of SIGTERM\n%s", p.Logs())
	}
	p.exit <- err // Stop may be called again by a test that stops early.
	if err != nil {
		t.Errorf("bootsrv exit after SIGTERM: %v\n%s", err, p.Logs())
	}
	if strings.Contains(p.Logs(), "DATA RACE") {
		t.Errorf("data race in bootsrv:\n%s", p.Logs())
	}
	p.cmd.Process = nil
}

// Stop stops bootsrv now, with the same checks as at cleanup.
func (p *bootsrvProc) Stop(t *testing.T) { p.stop(t) }

// Addr is the address a service listens on, e.g. Addr("tftp").
func (p *bootsrvProc) Addr(service string) string {
	a, ok := p.addrs[service]
	if !ok {
		panic("bootsrv has no service " + service)
	}
	return a
}

// Port is the port number of a service.
func (p *bootsrvProc) Port(service string) int {
	a := p.Addr(service)
	n, _ := strconv.Atoi(a[strings.LastIndexByte(a, ':')+1:])
	return n
}

// Logs is everything bootsrv has written to stderr so far.
func (p *bootsrvProc) Logs() string { return p.logs.String() }

// MetricsText fetches /metrics.
func (p *bootsrvProc) MetricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + p.Addr("http") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// Metric returns the value of one series, written as in the exposition
// format, e.g. `bootsrv_tftp_transfers_total{direction="read",result="ok"}`,
// or 0 when the series is absent.
func (p *bootsrvProc) Metric(t *testing.T, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(p.MetricsText(t), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// runTool runs a client with a deadline and returns its combined output.
func runTool(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileSHA256 hashes a file, failing the test if it cannot be read.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(b)
}

var netnsSeq atomic.Int64

// newNetns creates a network namespace with lo up, removed at cleanup.
// Names carry the test process id so parallel runs never collide.
func newNetns(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	name := fmt.Sprintf("bsv%d-%d", os.Getpid(), netnsSeq.Add(1))
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	mustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// veth joins two namespaces: ifA (with CIDR addrA, may be empty) in nsA and
// ifB (addrB) in nsB. Both ends are created inside the namespaces, so no
// name ever lands in the root namespace.
func veth(t *testing.T, nsA, ifA, addrA, nsB, ifB, addrB string) {
	t.Helper()
	mustRun(t, "ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	for _, e := range []struct{ ns, ifc, addr string }{{nsA, ifA, addrA}, {nsB, ifB, addrB}} {
		if e.addr != "" {
			mustRun(t, "ip", "-n", e.ns, "addr", "add", e.addr, "dev", e.ifc)
		}
		mustRun(t, "ip", "-n", e.ns, "link", "set", e.ifc, "up")
	}
}

// bridge joins ports, interfaces already in namespace ns, in a bridge br0
// there (no STP, no forwarding delay), with address addr unless it is "".
// A port named tap0 is created first, as a tap for qemu.
func bridge(t *testing.T, ns, addr string, ports ...string) {
	t.Helper()
	mustRun(t, "ip", "-n", ns, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
	if addr != "" {
		mustRun(t, "ip", "-n", ns, "addr", "add", addr, "dev", "br0")
	}
	for _, port := range ports {
		if port == "tap0" {
			mustRun(t, "ip", "-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap")
		}
		mustRun(t, "ip", "-n", ns, "link", "set", port, "master", "br0")
		mustRun(t, "ip", "-n", ns, "link", "set", port, "up")
	}
	mustRun(t, "ip", "-n", ns, "link", "set", "br0", "up")
}

// inNetns prefixes a command so it runs inside namespace ns.
func inNetns(ns string, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lockedBuffer collects log lines from the reader goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteLine(s string) {
	b.mu.Lock()
	b.buf.WriteString(s)
	b.buf.WriteByte('\n')
	b.mu.Unlock()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// secretHash is a bcrypt hash of the password "secret", at the lowest cost
// so that logins stay fast.
func secretHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}
