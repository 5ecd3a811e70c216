package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A real PXE boot under qemu (TCG), served by bootsrv alone: its DHCP hands
// out the bootfile, its TFTP serves it. The guest's iPXE runs boot.ipxe,
// which prints a marker on the serial console and powers off.

const pxeScript = "#!ipxe\necho BOOTSRV-PXE-MARKER-${platform}\npoweroff || reboot\n"

const pxeYAML = `
dhcp:
  mode: server
  interface: s0
  server_ip: 10.78.0.1
  lease_file: %s
  authoritative: true
  pools:
    - {subnet: 10.78.0.0/24, range: 10.78.0.100-10.78.0.150, router: 10.78.0.1, lease_time: 1h}
  boot:
    bios: undionly.kpxe
    efi64: snponly.efi
    ipxe: boot.ipxe
`

type pxeNet struct {
	srv, cli string
	proc     *bootsrvProc
}

// startPXENet runs bootsrv (DHCP on s0, TFTP on 10.78.0.1:69) in one
// namespace with pxeYAML, iPXE's bootfiles and boot.ipxe.
func startPXENet(t *testing.T) *pxeNet {
	t.Helper()
	files := map[string][]byte{"boot.ipxe": []byte(pxeScript)}
	for _, f := range []string{"undionly.kpxe", "snponly.efi"} {
		b, err := os.ReadFile(filepath.Join("/usr/lib/ipxe", f))
		if err != nil {
			if strictE2E() {
				t.Fatalf("package ipxe: %v", err)
			}
			t.Skipf("package ipxe not installed: %v", err)
		}
		files[f] = b
	}
	return newPXENet(t, fmt.Sprintf(pxeYAML, filepath.Join(t.TempDir(), "leases.db")), files,
		"-tftp-addr", "10.78.0.1:69")
}

// newPXENet runs bootsrv with config, files in its store and extra args in
// one namespace, where s0 has 10.78.0.1/24; the other holds a bridge
// joining the veth end and tap0, for bootGuest.
func newPXENet(t *testing.T, config string, files map[string][]byte, args ...string) *pxeNet {
	t.Helper()
	requireTool(t, "qemu-system-x86_64")
	n := &pxeNet{srv: newNetns(t), cli: newNetns(t)}
	veth(t, n.srv, "s0", "10.78.0.1/24", n.cli, "c0", "")
	bridge(t, n.cli, "", "c0", "tap0")
	n.proc = startBootsrv(t, bootsrvOpts{Config: config, Files: files, Netns: n.srv, Args: args})
	startRAOnly(t, n.srv)
	return n
}

// startRAOnly sends IPv6 router advertisements on s0 so iPXE does not wait
// ~13 s for IPv6 autoconfiguration before fetching its script.
func startRAOnly(t *testing.T, ns string) {
	t.Helper()
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		return // slower boot, same result
	}
	mustRun(t, "ip", "-n", ns, "addr", "add", "fd78::1/64", "dev", "s0", "nodad")
	pid := filepath.Join(t.TempDir(), "dnsmasq.pid")
	argv := inNetns(ns, "dnsmasq", "--port=0", "--interface=s0", "--bind-interfaces", "--enable-ra",
		"--dhcp-range=fd78::,ra-only", "--pid-file="+pid, "--conf-file=/dev/null", "--keep-in-foreground")
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Logf("dnsmasq RA helper: %v", err)
		return
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// bootGuest runs qemu in the client namespace until the marker appears on
// its serial console, the guest powers off, or the timeout passes.
func (n *pxeNet) bootGuest(t *testing.T, timeout time.Duration, marker string, qemuArgs ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	base := []string{"qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no"}
	argv := inNetns(n.cli, append(base, qemuArgs...)...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = nil
	out := &markerWriter{marker: []byte(marker), seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-out.seen:
		t.Logf("marker after %v", time.Since(start).Round(100*time.Millisecond))
		select { // the script powers off; give it a moment, then stop qemu
		case <-exited:
		case <-time.After(10 * time.Second):
			cancel()
			<-exited
		}
	case err := <-exited:
		t.Fatalf("qemu exited without the marker %q (%v) after %v:\n%s\nbootsrv:\n%s", marker, err, time.Since(start), out.String(), n.proc.Logs())
	}
	return out.String()
}

type markerWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker []byte
	seen   chan struct{}
	once   sync.Once
}

func (w *markerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(stripCSI(w.buf.Bytes()), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *markerWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

var _ io.Writer = (*markerWriter)(nil)

// stripCSI drops ANSI control sequences (ESC [ parameters final-byte):
// firmware drawing its screen on the serial console may move the cursor
// in the middle of a line, splitting the marker (pxelinux does).
func stripCSI(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != 0x1b || i+1 >= len(b) || b[i+1] != '[' {
			out = append(out, b[i])
			continue
		}
		j := i + 2
		for j < len(b) && (b[j] < 0x40 || b[j] > 0x7e) {
			j++
		}
		i = j // the final byte, or past the end of a sequence not yet complete
	}
	return out
}

// TestPXEBootBIOS boots qemu's BIOS with the iPXE ROM (ipxe-qemu). The ROM
// already is iPXE (user class "iPXE"), so it gets boot.ipxe directly.
func TestPXEBootBIOS(t *testing.T) {
	n := startPXENet(t)
	out := n.bootGuest(t, 120*time.Second, "BOOTSRV-PXE-MARKER-pcbios",
		"-boot", "n", "-device", "e1000,netdev=n0,mac=52:54:00:78:00:01")
	logs := n.proc.Logs()
	if !strings.Contains(logs, `"state":"selecting"`) || !strings.Contains(logs, "boot.ipxe") {
		t.Errorf("no DHCP ACK or boot.ipxe transfer logged:\n%s", logs)
	}
	if !strings.Contains(out, "BOOTSRV-PXE-MARKER-pcbios") {
		t.Fatal("no marker")
	}
}

// TestPXEBootUEFI boots OVMF through OVMF's own PXE client (virtio-net with
// no option ROM): arch 7 gets snponly.efi over TFTP, which is iPXE; iPXE
// asks again with user class iPXE and gets boot.ipxe.
func TestPXEBootUEFI(t *testing.T) {
	n := startPXENet(t)
	firmware := ovmfDrives(t)
	out := n.bootGuest(t, 240*time.Second, "BOOTSRV-PXE-MARKER-efi",
		append(firmware, "-device", "virtio-net-pci,netdev=n0,romfile=,mac=52:54:00:78:00:02")...)
	if !strings.Contains(out, "BOOTSRV-PXE-MARKER-efi") {
		t.Fatal("no marker")
	}
	// Two DHCP exchanges: OVMF's PXE client, then iPXE from snponly.efi.
	logs := n.proc.Logs()
	if c := strings.Count(logs, `"message":"ack"`); c < 2 {
		t.Errorf("%d DHCP ACKs, want 2 (firmware, then iPXE)", c)
	}
	for _, f := range []string{"snponly.efi", "boot.ipxe"} {
		if !strings.Contains(logs, f) {
			t.Errorf("bootsrv never logged serving %s:\n%s", f, logs)
		}
	}
}

// ovmfDrives are qemu's arguments for OVMF: its code read-only and a
// private copy of its variable store. It skips (fails under BOOTSRV_E2E=1)
// when OVMF is not installed.
func ovmfDrives(t *testing.T) []string {
	t.Helper()
	code := "/usr/share/OVMF/OVMF_CODE_4M.fd"
	vars, err := os.ReadFile("/usr/share/OVMF/OVMF_VARS_4M.fd")
	if err != nil {
		if strictE2E() {
			t.Fatal(err)
		}
		t.Skip("ovmf not installed")
	}
	varsCopy := filepath.Join(t.TempDir(), "vars.fd")
	if err := os.WriteFile(varsCopy, vars, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + varsCopy}
}

func TestStripCSI(t *testing.T) {
	in := "BOOTSRV-PXELINUX\x1b[25;16H\x1b[25;17H-MARKER \x1b[0;1mbold\x1b[0m \x1b[2"
	if got := string(stripCSI([]byte(in))); got != "BOOTSRV-PXELINUX-MARKER bold " {
		t.Fatalf("stripCSI = %q", got)
	}
}
