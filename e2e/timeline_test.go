package e2e

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bootsrv/bootsrv/netboot"
	"github.com/bootsrv/bootsrv/timeline"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// timelineYAML boots a UEFI machine as labs do: its firmware gets
// snponly.efi (iPXE) by TFTP, iPXE gets a boot script rendered for it,
// which fetches a kernel over HTTP.
const timelineYAML = `
http:
  listen: 10.78.0.1:8080
dhcp:
  mode: server
  interface: s0
  server_ip: 10.78.0.1
  lease_file: %s
  authoritative: true
  pools:
    - {subnet: 10.78.0.0/24, range: 10.78.0.100-10.78.0.150, router: 10.78.0.1, lease_time: 1h}
  boot: {bios: undionly.kpxe, efi64: snponly.efi, ipxe: boot.ipxe}
scripts:
  - name: boot.ipxe
    template: |
      #!ipxe
      imgfetch {{.ImagesURL}}/kernel.bin || goto fail
      echo BOOTSRV-TIMELINE-OK
      poweroff || reboot
      :fail
      echo BOOTSRV-TIMELINE-FAIL
      poweroff || reboot
`

// startTimelineNet is newPXENet with timelineYAML, iPXE's loaders and a
// 1 MiB kernel in the store, TFTP and HTTP on 10.78.0.1.
func startTimelineNet(t *testing.T, yaml string) (*pxeNet, []byte) {
	t.Helper()
	kernel := randomBytes(1 << 20)
	files := map[string][]byte{"kernel.bin": kernel}
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
	n := newPXENet(t, fmt.Sprintf(yaml, filepath.Join(t.TempDir(), "leases.db")), files,
		"-tftp-addr", "10.78.0.1:69", "-http-addr", "10.78.0.1:8080")
	return n, kernel
}

// apiGet fetches path from bootsrv's HTTP address inside the namespace.
func (n *pxeNet) apiGet(t *testing.T, path string, v any) {
	t.Helper()
	argv := inNetns(n.srv, "curl", "-fsS", "http://10.78.0.1:8080"+path)
	out, err := runTool(t, 30*time.Second, argv[0], argv[1:]...)
	if err != nil {
		t.Fatalf("GET %s: %v %s", path, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, out)
	}
}

// TestTimelineUEFIBoot boots OVMF's PXE client through snponly.efi and a
// rendered boot script to an HTTP kernel, then reads the machine's
// timeline: DHCP, the TFTP loader with its size, DHCP again for iPXE, the
// script render and transfer, the HTTP kernel with its size, in that order.
// The options bootsrv explain gives for each DHCP exchange are the options
// the firmware and iPXE got.
func TestTimelineUEFIBoot(t *testing.T) {
	requireTool(t, "curl")
	n, kernel := startTimelineNet(t, timelineYAML)
	capture := captureDHCP(t, n.srv, "s0")
	mac := "52:54:00:78:00:21"
	out := n.bootGuest(t, 240*time.Second, "BOOTSRV-TIMELINE-", append(ovmfDrives(t),
		"-device", "virtio-net-pci,netdev=n0,romfile=,mac="+mac)...)
	if !strings.Contains(out, "BOOTSRV-TIMELINE-OK") {
		t.Fatalf("the guest did not fetch its kernel:\n%s", out)
	}
	snp, _ := os.ReadFile("/usr/lib/ipxe/snponly.efi")

	var m timeline.Machine
	steps := []string{
		"dhcp dhcp_out ack snponly.efi",
		fmt.Sprintf("tftp transfer snponly.efi %d", len(snp)),
		"dhcp dhcp_out ack boot.ipxe",
		"script render boot.ipxe",
		"tftp transfer boot.ipxe",
		fmt.Sprintf("http transfer kernel.bin %d", len(kernel)),
	}
	waitFor(t, 10*time.Second, "the kernel transfer in the timeline", func() bool {
		n.apiGet(t, "/api/machines/"+mac, &m)
		return len(m.Events) > 0 && m.Events[len(m.Events)-1].File == "kernel.bin"
	})
	var seen []string
	for _, e := range m.Events {
		s := fmt.Sprintf("%s %s", e.Service, e.Kind)
		if e.MsgType != 0 {
			s += " " + e.MsgType.String()
		}
		if e.File != "" {
			s += " " + e.File
		}
		if e.Bytes > 0 && e.Kind == event.Transfer && e.Service != event.Script && e.File != "boot.ipxe" {
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
	if s := m.Summary; s.IP == "" || s.Arch == "" || s.LastStep == "" || s.BootLoop {
		t.Errorf("summary %+v", s)
	}
	var list timeline.List
	n.apiGet(t, "/api/machines?q="+url.QueryEscape(mac[9:]), &list)
	if list.Total != 1 || list.Machines[0].MAC != mac {
		t.Errorf("search by part of the MAC: %+v", list)
	}

	checkExplainMatchesCapture(t, n, capture.packets(t), mac)
}

// checkExplainMatchesCapture asks /api/explain, for every DHCP exchange of
// mac that ended in an ACK, what bootsrv would answer a machine sending
// that request (its architecture, vendor and user class as captured), and
// compares the options with the ACK the machine got. The options that echo
// the request (61 client id, 82 relay info, 97 machine UUID) are left out.
func checkExplainMatchesCapture(t *testing.T, n *pxeNet, msgs []*dhcpv4.DHCPv4, mac string) {
	t.Helper()
	requests := map[dhcpv4.TransactionID]*dhcpv4.DHCPv4{}
	acks := 0
	for _, m := range msgs {
		if m.ClientHWAddr.String() != mac {
			continue
		}
		switch m.MessageType() {
		case dhcpv4.MessageTypeRequest:
			requests[m.TransactionID] = m
		case dhcpv4.MessageTypeAck:
			req := requests[m.TransactionID]
			if req == nil {
				continue
			}
			acks++
			q := url.Values{"mac": {mac}}
			if a := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
				q.Set("arch", fmt.Sprint(binary.BigEndian.Uint16(a)))
			}
			q.Set("vendor_class", req.ClassIdentifier())
			if uc := req.Options.Get(dhcpv4.OptionUserClassInformation); len(uc) > 0 {
				q.Set("user_class", userClassString(uc))
			}
			if cid := req.Options.Get(dhcpv4.OptionClientIdentifier); len(cid) > 0 {
				q.Set("client_id", hex.EncodeToString(cid))
			}
			var e netboot.Explanation
			n.apiGet(t, "/api/explain?"+q.Encode(), &e)
			if e.DHCP == nil || e.DHCP.Address != m.YourIPAddr.String() {
				t.Errorf("explain %v: %+v, the ACK gave %s", q, e.DHCP, m.YourIPAddr)
				continue
			}
			want := map[int]string{}
			for code, v := range m.Options {
				if code != 61 && code != 82 && code != 97 {
					want[int(code)] = hex.EncodeToString(v)
				}
			}
			got := map[int]string{}
			for _, o := range e.DHCP.Options {
				if o.Code != 61 && o.Code != 82 && o.Code != 97 {
					got[o.Code] = o.Hex
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("explain %v options:\n%v\nthe ACK's:\n%v", q, got, want)
			}
		}
	}
	if acks == 0 {
		t.Fatalf("no ACK to %s in the capture (%d packets)", mac, len(msgs))
	}
	t.Logf("explain matched the %d ACKs %s got", acks, mac)
}

// userClassString is option 77 as /api/explain takes it: a plain string
// as iPXE sends it, or RFC 3004's first class.
func userClassString(b []byte) string {
	if n := int(b[0]); n > 0 && n < len(b) && n+1 == len(b) {
		return string(b[1:])
	}
	return string(b)
}

// TestTimelineBootLoop: a machine whose boot script reboots it fetches the
// same first-stage loader again and again; the timeline flags it, counts
// it in bootsrv_boot_loops_total and warns once.
func TestTimelineBootLoop(t *testing.T) {
	requireTool(t, "curl")
	loop := strings.Replace(timelineYAML, "imgfetch {{.ImagesURL}}/kernel.bin || goto fail\n      echo BOOTSRV-TIMELINE-OK\n      poweroff || reboot",
		"echo BOOTSRV-LOOPING\n      reboot", 1)
	n, _ := startTimelineNet(t, loop)
	mac := "52:54:00:78:00:31"
	// No -no-reboot: the guest boots again each time its script reboots it.
	argv := inNetns(n.cli, "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-boot", "n", "-device", "e1000,netdev=n0,mac="+mac)
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var m timeline.Machine
	waitFor(t, 3*time.Minute, "a boot loop in the timeline", func() bool {
		argv := inNetns(n.srv, "curl", "-fsS", "http://10.78.0.1:8080/api/machines/"+mac)
		out, err := runTool(t, 30*time.Second, argv[0], argv[1:]...)
		return err == nil && json.Unmarshal([]byte(out), &m) == nil && m.Summary.BootLoop
	})
	loops := 0
	for _, e := range m.Events {
		if e.Kind == event.BootLoop {
			loops++
		}
	}
	if loops != 1 || strings.Count(n.proc.Logs(), "boot loop") < 1 {
		t.Errorf("%d boot_loop events, want 1; log:\n%s", loops, n.proc.Logs())
	}
}

// TestExplainMatchesClients: for a BIOS machine whose ROM is iPXE, and a
// switch (udhcpc sending a vendor class a ZTP rule matches), the options
// /api/explain gives equal those of the ACK each got.
func TestExplainMatchesClients(t *testing.T) {
	requireTool(t, "curl")
	requireTool(t, "busybox")
	yaml := strings.Replace(timelineYAML, "scripts:", `  rules:
    - match: {vendor_class: "^Cisco"}
      bootfile: network-confg
      options: {150: [10.78.0.1]}
scripts:`, 1)
	n, _ := startTimelineNet(t, yaml)
	capture := captureDHCP(t, n.srv, "s0")
	bios := "52:54:00:78:00:41"
	if out := n.bootGuest(t, 120*time.Second, "BOOTSRV-TIMELINE-", "-boot", "n", "-device", "e1000,netdev=n0,mac="+bios); !strings.Contains(out, "BOOTSRV-TIMELINE-OK") {
		t.Fatalf("the BIOS guest did not boot:\n%s", out)
	}
	sw := "52:54:00:78:00:42"
	mustRun(t, "ip", "-n", n.cli, "link", "set", "br0", "address", sw)
	script := filepath.Join(t.TempDir(), "udhcpc.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncase \"$1\" in bound) echo \"BOOTFILE $boot_file\";; esac\n"), 0o755)
	argv := inNetns(n.cli, "busybox", "udhcpc", "-i", "br0", "-f", "-q", "-n", "-t", "5", "-V", "Cisco Systems, Inc. IR800", "-s", script)
	if out, err := runTool(t, 60*time.Second, argv[0], argv[1:]...); err != nil || !strings.Contains(out, "BOOTFILE network-confg") {
		t.Fatalf("udhcpc with a ZTP vendor class: %v\n%s", err, out)
	}
	msgs := capture.packets(t)
	checkExplainMatchesCapture(t, n, msgs, bios)
	checkExplainMatchesCapture(t, n, msgs, sw)
}
