package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Common firmware and boot loaders, as Debian ships them, booting from
// bootsrv under qemu (TCG), each with a config a new user would write:
// pxelinux from a VM's iPXE ROM with no boot.ipxe, GRUB from OVMF's own PXE
// client, and UEFI HTTP boot of Debian's signed shim and GRUB.

// firmwareYAML serves 10.78.0.0/24 on s0 (newPXENet's segment). Verbs:
// http.images_path, the lease file, then the boot section's entries.
const firmwareYAML = `
http:
  images_path: %s
dhcp:
  mode: server
  interface: s0
  server_ip: 10.78.0.1
  lease_file: %s
  authoritative: true
  pools:
    - {subnet: 10.78.0.0/24, range: 10.78.0.100-10.78.0.150, router: 10.78.0.1, lease_time: 1h}
  boot: {%s}
`

func firmwareConfig(t *testing.T, imagesPath, boot string) string {
	return fmt.Sprintf(firmwareYAML, imagesPath, filepath.Join(t.TempDir(), "leases.db"), boot)
}

// requireFile reads a file a Debian package installs, skipping the test
// when it is missing (failing it under BOOTSRV_E2E=1).
func requireFile(t *testing.T, path, pkg string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if strictE2E() {
			t.Fatalf("BOOTSRV_E2E=1 but %s (package %s) is missing: %v", path, pkg, err)
		}
		t.Skipf("%s (package %s) not installed: %v", path, pkg, err)
	}
	return b
}

// pxelinuxCfg is found after pxelinux has asked for the MAC and hex-IP
// names; SAY reaches the serial console through SERIAL, and poweroff.c32
// ends the VM.
const pxelinuxCfg = `SERIAL 0 115200
SAY BOOTSRV-PXELINUX-MARKER
DEFAULT bye
PROMPT 0
TIMEOUT 1
LABEL bye
  COM32 poweroff.c32
`

// TestFirmwarePXELinuxFromIPXEROM boots a classic pxelinux setup, with no
// boot.ipxe, on qemu's BIOS, whose PXE ROM is iPXE (user class iPXE): it
// must get pxelinux.0 like any PXE client, as from dnsmasq.
func TestFirmwarePXELinuxFromIPXEROM(t *testing.T) {
	files := map[string][]byte{
		"pxelinux.0":           requireFile(t, "/usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
		"ldlinux.c32":          requireFile(t, "/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"),
		"poweroff.c32":         requireFile(t, "/usr/lib/syslinux/modules/bios/poweroff.c32", "syslinux-common"),
		"pxelinux.cfg/default": []byte(pxelinuxCfg),
	}
	n := newPXENet(t, firmwareConfig(t, "/images/", "bios: pxelinux.0"), files, "-tftp-addr", "10.78.0.1:69")
	out := n.bootGuest(t, 120*time.Second, "BOOTSRV-PXELINUX-MARKER",
		"-boot", "n", "-device", "e1000,netdev=n0,mac=52:54:00:78:01:01")
	if !strings.Contains(out, "Filename: pxelinux.0") {
		t.Errorf("iPXE did not get pxelinux.0 from DHCP:\n%s", out)
	}
	logs := n.proc.Logs()
	for _, f := range []string{"pxelinux.0", "ldlinux.c32", "pxelinux.cfg/default"} {
		if !tftpSent(logs, f) {
			t.Errorf("bootsrv logged no TFTP transfer of %s:\n%s", f, logs)
		}
	}
	if !strings.Contains(logs, `"file":"pxelinux.cfg/01-52-54-00-78-01-01"`) {
		t.Errorf("pxelinux never asked for its per-MAC config first")
	}
	if strings.Contains(logs, "is an iPXE build") {
		t.Errorf("pxelinux.0 taken for an iPXE build")
	}
}

// grubCfg echoes marker and where GRUB found its config, then halts the
// VM (GRUB's halt ends qemu through UEFI ResetSystem).
func grubCfg(marker string) []byte {
	return []byte("echo " + marker + " prefix=$prefix\nhalt\n")
}

// TestFirmwareGRUBFromOVMFPXE boots Debian's signed network GRUB from
// OVMF's own PXE client (virtio-net without option ROM) over TFTP. The
// image's built-in prefix is /grub and its memdisk config sources
// $prefix/x86_64-efi/grub.cfg, else $prefix/grub.cfg: with the device
// (tftp,SERVER), that is grub/grub.cfg in the store.
func TestFirmwareGRUBFromOVMFPXE(t *testing.T) {
	files := map[string][]byte{
		"grubnetx64.efi": requireFile(t, "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grub-efi-amd64-signed"),
		"grub/grub.cfg":  grubCfg("BOOTSRV-GRUB-TFTP-MARKER"),
	}
	firmware := ovmfDrives(t)
	n := newPXENet(t, firmwareConfig(t, "/images/", "efi64: grubnetx64.efi"), files, "-tftp-addr", "10.78.0.1:69")
	n.bootGuest(t, 120*time.Second, "BOOTSRV-GRUB-TFTP-MARKER prefix=(tftp,10.78.0.1)/grub",
		append(firmware, "-device", "virtio-net-pci,netdev=n0,romfile=,mac=52:54:00:78:01:02")...)
	logs := n.proc.Logs()
	for _, f := range []string{"grubnetx64.efi", "/grub/grub.cfg"} {
		if !tftpSent(logs, f) {
			t.Errorf("bootsrv logged no TFTP transfer of %s:\n%s", f, logs)
		}
	}
}

// tftpSent reports whether bootsrv's log has a completed TFTP download of
// file (as the client named it).
func tftpSent(logs, file string) bool {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"message":"tftp transfer"`) && strings.Contains(l, fmt.Sprintf(`"file":%q`, file)) &&
			strings.Contains(l, `"result":"ok"`) {
			return true
		}
	}
	return false
}

// The UEFI HTTP boot tests serve a Debian netboot tree at the root of the
// HTTP server (http.images_path "/"), hand out only the HTTP boot URL of
// the signed shim (no TFTP bootfile), and turn OVMF's PXE boot options off
// (fw_cfg), so the firmware goes straight to HTTPv4. Shim then fetches
// grubx64.efi from its own directory as ".../amd64//grubx64.efi".
const (
	shimURL  = "http://10.78.0.1:8080/debian-installer/amd64/bootnetx64.efi"
	grubPath = "/debian-installer/amd64//grubx64.efi"
)

var httpBootOnly = []string{
	"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
	"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no",
}

func startHTTPBootNet(t *testing.T, grub []byte, extra map[string][]byte) (*pxeNet, *httpCapture) {
	t.Helper()
	files := map[string][]byte{
		"debian-installer/amd64/bootnetx64.efi": requireFile(t, "/usr/lib/shim/shimx64.efi.signed", "shim-signed"),
		"debian-installer/amd64/grubx64.efi":    grub,
	}
	for k, v := range extra {
		files[k] = v
	}
	requireTool(t, "tcpdump")
	n := newPXENet(t, firmwareConfig(t, "/", "http: \""+shimURL+"\""), files,
		"-tftp-addr", "10.78.0.1:69", "-http-addr", "10.78.0.1:8080")
	return n, captureHTTP(t, n.srv, "s0", 8080)
}

// checkShimFetch asserts shim's request for its second stage, through a
// "//" path, was answered 200 and nothing was redirected.
func checkShimFetch(t *testing.T, seen []string) {
	t.Helper()
	if got := statusOf(seen, "GET "+grubPath); got != "200" {
		t.Errorf("GET %s answered %q, want 200; HTTP seen: %q", grubPath, got, seen)
	}
	for _, s := range seen {
		if strings.HasPrefix(s, "3") {
			t.Errorf("a redirect was sent (%s); firmware does not follow them: %q", s, seen)
		}
	}
}

// TestFirmwareHTTPBootShimGRUB: UEFI HTTP boot of Debian's signed shim,
// which loads GRUB over HTTP through a "//" path; GRUB then reads its
// config over HTTP from the absolute path of its built-in prefix, which
// only http.images_path "/" can answer.
//
// Debian's signed GRUB images (grubnetx64, grubx64) carry no http module,
// so with them GRUB starts but cannot read anything over HTTP (see
// TestFirmwareHTTPBootSecureBoot). This test assembles a network GRUB from
// Debian's own modules (grub-efi-amd64-bin) with http, as a distribution's
// netboot GRUB with prefix /debian-installer/amd64/grub; it is unsigned,
// so Secure Boot is off here and shim does not verify it.
func TestFirmwareHTTPBootShimGRUB(t *testing.T) {
	grub := buildHTTPGRUB(t, "/debian-installer/amd64/grub")
	firmware := ovmfDrives(t)
	n, capture := startHTTPBootNet(t, grub, map[string][]byte{
		"debian-installer/amd64/grub/grub.cfg": grubCfg("BOOTSRV-GRUB-HTTP-MARKER"),
	})
	n.bootGuest(t, 120*time.Second, "BOOTSRV-GRUB-HTTP-MARKER prefix=(http,10.78.0.1:8080)/debian-installer/amd64/grub",
		append(append(firmware, httpBootOnly...), "-device", "virtio-net-pci,netdev=n0,romfile=,mac=52:54:00:78:01:03")...)
	seen := capture.stop(t)
	t.Logf("HTTP requests and answers: %q", seen)
	if got := statusOf(seen, "GET /debian-installer/amd64/bootnetx64.efi"); got != "200" {
		t.Errorf("firmware's GET of shim answered %q", got)
	}
	checkShimFetch(t, seen)
	if got := statusOf(seen, "GET /debian-installer/amd64/grub/grub.cfg"); got != "200" {
		t.Errorf("GRUB's GET of its config answered %q", got)
	}
}

// TestFirmwareHTTPBootSecureBoot: the same HTTP boot under Secure Boot
// with Microsoft's keys enrolled, as on real hardware: OVMF verifies shim
// (signed by Microsoft), shim verifies Debian's signed GRUB fetched through
// the "//" path, and GRUB starts. That GRUB has no http module, so it
// stops at its prompt without a config: its greeting is the marker.
func TestFirmwareHTTPBootSecureBoot(t *testing.T) {
	grub := requireFile(t, "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grub-efi-amd64-signed")
	firmware := secureBootDrives(t)
	n, capture := startHTTPBootNet(t, grub, nil)
	out := n.bootGuest(t, 120*time.Second, "Welcome to GRUB!",
		append(append(firmware, httpBootOnly...), "-device", "virtio-net-pci,netdev=n0,romfile=,mac=52:54:00:78:01:04")...)
	seen := capture.stop(t)
	t.Logf("HTTP requests and answers: %q", seen)
	checkShimFetch(t, seen)
	for _, bad := range []string{"Verification failed", "Security Violation", "Access Denied"} {
		if strings.Contains(out, bad) {
			t.Errorf("firmware or shim refused an image (%s):\n%s", bad, out)
		}
	}
}

// buildHTTPGRUB assembles an x86_64 EFI GRUB with network, TFTP and HTTP
// support and the given built-in prefix from the modules Debian ships.
func buildHTTPGRUB(t *testing.T, prefix string) []byte {
	t.Helper()
	requireTool(t, "grub-mkimage")
	requireFile(t, "/usr/lib/grub/x86_64-efi/http.mod", "grub-efi-amd64-bin")
	out := filepath.Join(t.TempDir(), "grubx64.efi")
	if o, err := runTool(t, time.Minute, "grub-mkimage", "-O", "x86_64-efi", "-d", "/usr/lib/grub/x86_64-efi",
		"-o", out, "-p", prefix, "normal", "configfile", "echo", "halt", "efinet", "tftp", "http"); err != nil {
		t.Fatalf("grub-mkimage: %v\n%s", err, o)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secureBootDrives are qemu's arguments for OVMF with Secure Boot enforced
// and Microsoft's keys enrolled (SMM, secure flash, a copy of the
// Microsoft variable store).
func secureBootDrives(t *testing.T) []string {
	t.Helper()
	code := "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	requireFile(t, code, "ovmf")
	vars := requireFile(t, "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", "ovmf")
	varsCopy := filepath.Join(t.TempDir(), "vars.fd")
	if err := os.WriteFile(varsCopy, vars, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + varsCopy}
}

// httpCapture records, with tcpdump, the HTTP request lines and response
// status codes crossing an interface: bootsrv does not log HTTP requests,
// and what matters here is the exact path the firmware sent.
type httpCapture struct {
	cmd     *exec.Cmd
	out     bytes.Buffer // tcpdump's stdout, read only after Wait
	drained chan struct{}
	stopped bool
}

func captureHTTP(t *testing.T, ns, iface string, port int) *httpCapture {
	t.Helper()
	// Immediate mode hands each packet over as it comes, rather than in
	// blocks that a stop could leave unread.
	argv := inNetns(ns, "tcpdump", "-i", iface, "-n", "-l", "-A", "-s", "0", "--immediate-mode", fmt.Sprintf("tcp port %d", port))
	c := &httpCapture{cmd: exec.Command(argv[0], argv[1:]...), drained: make(chan struct{})}
	c.cmd.Stdout = &c.out
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stop(t) })
	ready := make(chan struct{})
	var msgs lockedBuffer
	go func() {
		defer close(c.drained)
		once := sync.OnceFunc(func() { close(ready) })
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			msgs.WriteLine(sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				once()
			}
		}
		once()
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
	}
	if !strings.Contains(msgs.String(), "listening on") {
		t.Fatalf("tcpdump did not start:\n%s", msgs.String())
	}
	return c
}

var (
	tcpdumpHeader = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d+ IP`)
	httpLine      = regexp.MustCompile(`((?:GET|HEAD) \S+) HTTP/1\.[01]|HTTP/1\.[01] (\d{3})`)
)

// stop ends the capture and returns what it saw in order: "GET /path"
// for each request and the status code ("200") for each response.
func (c *httpCapture) stop(t *testing.T) []string {
	t.Helper()
	if !c.stopped {
		c.stopped = true
		c.cmd.Process.Signal(syscall.SIGINT)
		<-c.drained
		c.cmd.Wait()
	}
	var seen []string
	for _, line := range strings.Split(c.out.String(), "\n") {
		if tcpdumpHeader.MatchString(line) { // tcpdump's own summary repeats the request line
			continue
		}
		for _, m := range httpLine.FindAllStringSubmatch(line, -1) {
			seen = append(seen, m[1]+m[2])
		}
	}
	return seen
}

// statusOf is the status of the first answer after request in seen, or ""
// when the request or its answer was not seen.
func statusOf(seen []string, request string) string {
	for i, s := range seen {
		if s != request {
			continue
		}
		for _, r := range seen[i+1:] {
			if !strings.Contains(r, " ") {
				return r
			}
		}
	}
	return ""
}

// TestFirmwareIPXEBuildWarned: a config that hands iPXE's own bootfile to
// PXE firmware without boot.ipxe is warned about at start-up and by
// bootsrv check, naming the key and file, since iPXE clients then get
// nothing; the other bootfile is not.
func TestFirmwareIPXEBuildWarned(t *testing.T) {
	files := map[string][]byte{
		"undionly.kpxe":  requireFile(t, "/usr/lib/ipxe/undionly.kpxe", "ipxe"),
		"grubnetx64.efi": requireFile(t, "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grub-efi-amd64-signed"),
	}
	srv, cli := newNetns(t), newNetns(t)
	veth(t, srv, "s0", "10.78.0.1/24", cli, "c0", "")
	config := firmwareConfig(t, "/images/", "bios: undionly.kpxe, efi64: grubnetx64.efi")
	p := startBootsrv(t, bootsrvOpts{Config: config, Files: files, Netns: srv})
	var warned []string
	for _, l := range strings.Split(p.Logs(), "\n") {
		if strings.Contains(l, `"level":"warn"`) && strings.Contains(l, "iPXE build") {
			warned = append(warned, l)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], `"key":"dhcp.boot.bios","file":"undionly.kpxe"`) ||
		!strings.Contains(warned[0], "set dhcp.boot.ipxe") {
		t.Errorf("start-up warnings: %q", warned)
	}
	cfgFile := filepath.Join(t.TempDir(), "bootsrv.yaml")
	if err := os.WriteFile(cfgFile, []byte("images: {root: "+p.Root+"}\n"+config), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, 30*time.Second, binPath, "check", "-config", cfgFile)
	if err != nil || !strings.Contains(out, `warning: dhcp.boot.bios: "undionly.kpxe" is an iPXE build`) ||
		strings.Contains(out, "grubnetx64.efi\" is an iPXE build") {
		t.Errorf("bootsrv check: %v\n%s", err, out)
	}
}
