package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/timeline"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// UEFI firmware booting over IPv6 only: s0 has fd78::1/64 and no IPv4
// address, bootsrv's DHCPv6 hands out addresses and boot file URLs and
// sends the router advertisements (managed flag, on-link prefix) the
// firmware and iPXE wait for, and TFTP and HTTP serve on [::].

const firmware6YAML = `
http:
  images_path: /images/
dhcpv6:
  mode: server
  interface: s0
  lease_file: %s
  preference: 255
  router_advertisements: true
  pools:
    - {subnet: "fd78::/64", range: "fd78::100-fd78::1ff", lease_time: 1h}
  boot: {%s}
`

// The iPXE script: it fetches a 16 MiB file over HTTP from the server's
// IPv6 address, then prints the marker with the address iPXE got.
const ipxe6Script = `#!ipxe
echo BOOTSRV-V6-SCRIPT
imgfetch http://[fd78::1]:8080/images/big.bin || goto fail
echo BOOTSRV-V6-MARKER-${platform}
poweroff || reboot
:fail
echo BOOTSRV-V6-FAIL
poweroff || reboot
`

// newPXENet6 is newPXENet on an IPv6-only segment: bootsrv (server_ip
// found on s0) in one namespace, a bridge joining the veth end and tap0
// in the other, multicast snooping off so DHCPv6 and neighbour discovery
// multicast reach the guest without an MLD querier.
func newPXENet6(t *testing.T, boot string, files map[string][]byte) *pxeNet {
	t.Helper()
	requireTool(t, "qemu-system-x86_64")
	n := &pxeNet{srv: newNetns(t), cli: newNetns(t)}
	ipv6Net(t, n.srv, "s0", "fd78::1/64", n.cli, "c0")
	bridge(t, n.cli, "", "c0", "tap0")
	mustRun(t, "ip", "-n", n.cli, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	config := fmt.Sprintf(firmware6YAML, filepath.Join(t.TempDir(), "leases6.db"), boot)
	n.proc = startBootsrv(t, bootsrvOpts{Config: config, Files: files, Netns: n.srv,
		Args: []string{"-tftp-addr", "[::]:69", "-http-addr", "[::]:8080"}})
	return n
}

// apiGet6 fetches path from bootsrv's HTTP server inside the namespace.
func (n *pxeNet) apiGet6(t *testing.T, path string, v any) {
	t.Helper()
	argv := inNetns(n.srv, "curl", "-fsS", "http://[fd78::1]:8080"+path)
	out, err := runTool(t, 30*time.Second, argv[0], argv[1:]...)
	if err != nil {
		t.Fatalf("GET %s: %v %s", path, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, out)
	}
}

func ipxeFiles(t *testing.T) map[string][]byte {
	t.Helper()
	snp := requireFile(t, "/usr/lib/ipxe/snponly.efi", "ipxe")
	return map[string][]byte{"snponly.efi": snp, "boot6.ipxe": []byte(ipxe6Script), "big.bin": randomBytes(16 << 20)}
}

// TestPXEv6BootUEFI boots OVMF through its own PXEv6 client (virtio-net
// without option ROM, IPv4 PXE off): DHCPv6 gives it an address and
// tftp://[fd78::1]/snponly.efi, which it fetches over TFTP; that iPXE
// does DHCPv6 itself (user class iPXE) and gets the script's http:// URL,
// and the script fetches 16 MiB over HTTP. The machine's timeline has the
// whole boot in order, every step under its MAC.
func TestPXEv6BootUEFI(t *testing.T) {
	files := ipxeFiles(t)
	n := newPXENet6(t, "efi64: snponly.efi, ipxe: boot6.ipxe", files)
	mac := "52:54:00:78:06:01"
	start := time.Now()
	out := n.bootGuest(t, 300*time.Second, "BOOTSRV-V6-MARKER-efi", append(ovmfDrives(t),
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
		"-device", "virtio-net-pci,netdev=n0,romfile=,mac="+mac)...)
	t.Logf("OVMF PXEv6 to the iPXE script's 16 MiB HTTP fetch: %v", time.Since(start).Round(100*time.Millisecond))
	if strings.Contains(out, "BOOTSRV-V6-FAIL") || !strings.Contains(out, "BOOTSRV-V6-SCRIPT") {
		t.Fatalf("the script did not run or fetch:\n%s", out)
	}
	logs := n.proc.Logs()
	if !tftpSent(logs, "snponly.efi") {
		t.Errorf("no TFTP transfer of snponly.efi logged:\n%s", logs)
	}
	for _, want := range []string{`"bootfile":"tftp://[fd78::1]/snponly.efi","decided_by":"dhcpv6.boot.efi64"`,
		`"bootfile":"http://[fd78::1]:8080/images/boot6.ipxe","decided_by":"dhcpv6.boot.ipxe"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no dhcpv6 reply with %s:\n%s", want, logs)
		}
	}
	var m timeline.Machine
	waitFor(t, 10*time.Second, "the 16 MiB transfer in the timeline", func() bool {
		n.apiGet6(t, "/api/machines/"+mac, &m)
		return len(m.Events) > 0 && m.Events[len(m.Events)-1].File == "big.bin"
	})
	checkSteps(t, m, []string{
		"dhcpv6 dhcp_out reply tftp://[fd78::1]/snponly.efi",
		fmt.Sprintf("tftp transfer snponly.efi %d", len(files["snponly.efi"])),
		"dhcpv6 dhcp_out reply http://[fd78::1]:8080/images/boot6.ipxe",
		"http transfer boot6.ipxe",
		fmt.Sprintf("http transfer big.bin %d", 16<<20),
	})
}

// TestHTTPBootV6UEFI: OVMF's UEFI HTTP boot client over IPv6 (its PXE
// clients off; HTTPv4 finds no DHCPv4 server and, after about 60 s of
// DHCPv4 retries, gives way to HTTPv6; fw_cfg IPv4Support=no would skip
// that wait, but then this OVMF (2022.11) starts HTTPv6 without its own
// DHCPv6 exchange and fails)
// asks DHCPv6 with vendor class HTTPClient, gets
// http://[fd78::1]:8080/images/snponly.efi in option 59 with HTTPClient
// echoed, and loads it over HTTP; that iPXE then does DHCPv6 and runs the
// script, which fetches 16 MiB.
func TestHTTPBootV6UEFI(t *testing.T) {
	files := ipxeFiles(t)
	n := newPXENet6(t, "http: snponly.efi, ipxe: boot6.ipxe", files)
	mac := "52:54:00:78:06:02"
	start := time.Now()
	out := n.bootGuest(t, 300*time.Second, "BOOTSRV-V6-MARKER-efi", append(append(ovmfDrives(t), httpBootOnly...),
		"-device", "virtio-net-pci,netdev=n0,romfile=,mac="+mac)...)
	t.Logf("OVMF HTTPv6 boot to the iPXE script's 16 MiB HTTP fetch: %v", time.Since(start).Round(100*time.Millisecond))
	logs := n.proc.Logs()
	if strings.Contains(out, "BOOTSRV-V6-FAIL") {
		t.Fatalf("the script's fetch failed:\n%s", out)
	}
	if !strings.Contains(logs, `"arch":"arch16","type":"request","bootfile":"http://[fd78::1]:8080/images/snponly.efi","decided_by":"dhcpv6.boot.http"`) {
		t.Errorf("no dhcpv6 reply giving the HTTP boot URL:\n%s", logs)
	}
	var m timeline.Machine
	waitFor(t, 10*time.Second, "the 16 MiB transfer in the timeline", func() bool {
		n.apiGet6(t, "/api/machines/"+mac, &m)
		return len(m.Events) > 0 && m.Events[len(m.Events)-1].File == "big.bin"
	})
	checkSteps(t, m, []string{
		"dhcpv6 dhcp_out reply http://[fd78::1]:8080/images/snponly.efi",
		fmt.Sprintf("http transfer snponly.efi %d", len(files["snponly.efi"])),
		"dhcpv6 dhcp_out reply http://[fd78::1]:8080/images/boot6.ipxe",
		fmt.Sprintf("http transfer big.bin %d", 16<<20),
	})
}

// checkSteps asserts the timeline has steps in order (others between).
func checkSteps(t *testing.T, m timeline.Machine, steps []string) {
	t.Helper()
	var seen []string
	for _, e := range m.Events {
		s := fmt.Sprintf("%s %s", e.Service, e.Kind)
		if e.MsgType != 0 {
			s += " " + e.MsgType.String()
		}
		if e.File != "" {
			s += " " + e.File
		}
		if e.Bytes > 0 && e.Kind == event.Transfer && e.File != "boot6.ipxe" {
			s += fmt.Sprint(" ", e.Bytes)
		}
		seen = append(seen, s)
	}
	next := 0
	for _, s := range seen {
		if next < len(steps) && s == steps[next] {
			next++
		}
	}
	if next < len(steps) {
		t.Fatalf("timeline lacks %q (in order %q):\n%s", steps[next], steps, strings.Join(seen, "\n"))
	}
}
