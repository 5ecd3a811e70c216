package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// proxyDHCP on a segment that has its own DHCP server. Three namespaces:
// srv runs bootsrv in proxy mode (DHCP on s0, TFTP on 10.79.0.1:69), dhs
// runs dnsmasq as the address-only DHCP server (10.79.0.2, no boot
// options), and lan holds the bridge joining both veth ends and tap0, where
// the qemu guest boots (or real clients run on br0).

const proxyYAML = `
dhcp:
  mode: proxy
  interface: s0
  server_ip: 10.79.0.1
  boot:
    bios: undionly.kpxe
    efi64: snponly.efi
    ipxe: boot.ipxe
`

// proxyScript shows the address iPXE got and the next server, fetches a
// kernel-sized file over TFTP, then prints the marker and powers off.
const proxyScript = `#!ipxe
echo BOOTSRV-PROXY-IP-${net0/ip}-NS-${next-server}-END
imgfetch --name kernel tftp://10.79.0.1/kernel.bin && echo BOOTSRV-PROXY-FETCHED-OK
echo BOOTSRV-PROXY-MARKER-${platform}
poweroff || reboot
`

const kernelSize = 4 << 20

type proxyNet struct {
	pxeNet          // srv, cli (= lan) and proc, so bootGuest works
	dhs             string
	dnsmasqLeases   string
	dnsmasqLog      *lockedBuffer
	dnsmasqStopOnce sync.Once
}

func startProxyNet(t *testing.T) *proxyNet {
	t.Helper()
	requireTool(t, "dnsmasq")
	n := &proxyNet{dhs: newNetns(t), dnsmasqLog: &lockedBuffer{}}
	n.srv, n.cli = newNetns(t), newNetns(t)
	veth(t, n.srv, "s0", "10.79.0.1/24", n.cli, "c0", "")
	veth(t, n.dhs, "d0", "10.79.0.2/24", n.cli, "c1", "")
	bridge(t, n.cli, "", "c0", "c1", "tap0")
	files := map[string][]byte{"boot.ipxe": []byte(proxyScript), "kernel.bin": randomBytes(kernelSize)}
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
	n.proc = startBootsrv(t, bootsrvOpts{Config: proxyYAML, Files: files, Netns: n.srv,
		Args: []string{"-tftp-addr", "10.79.0.1:69"}})
	logs := n.proc.Logs()
	if !strings.Contains(logs, `"message":"pxe port listening"`) || !strings.Contains(logs, "0.0.0.0:4011") {
		t.Fatalf("no PXE port:\n%s", logs)
	}
	startRAOnly(t, n.srv)
	n.startDnsmasq(t)
	return n
}

// startDnsmasq runs dnsmasq in the foreground as the segment's address
// server: a range, no boot options, DNS off, its own files. It returns
// once dnsmasq has logged its DHCP range (it is listening then).
func (n *proxyNet) startDnsmasq(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	n.dnsmasqLeases = filepath.Join(dir, "dnsmasq.leases")
	argv := inNetns(n.dhs, "dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground", "--port=0",
		"--interface=d0", "--bind-interfaces", "--dhcp-range=10.79.0.100,10.79.0.150,255.255.255.0,1h",
		"--dhcp-leasefile="+n.dnsmasqLeases, "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--user=root", "--log-dhcp", "--log-facility=-")
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		once := sync.OnceFunc(func() { close(ready) })
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.dnsmasqLog.WriteLine(sc.Text())
			if strings.Contains(sc.Text(), "DHCP, IP range") {
				once()
			}
		}
		once()
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("dnsmasq not ready:\n%s", n.dnsmasqLog.String())
	}
	if !strings.Contains(n.dnsmasqLog.String(), "DHCP, IP range") {
		t.Fatalf("dnsmasq exited:\n%s", n.dnsmasqLog.String())
	}
}

// metrics reads bootsrv's /metrics inside the server namespace.
func (n *proxyNet) metric(t *testing.T, series string) float64 {
	t.Helper()
	return (&dhcpNet{srv: n.srv, proc: n.proc}).metric(t, series)
}

// checkNoLeases asserts bootsrv handed out nothing: its lease list is empty
// and no proxy reply carried an address.
func (n *proxyNet) checkNoLeases(t *testing.T) {
	t.Helper()
	argv := inNetns(n.srv, "curl", "-fsS", "http://"+n.proc.Addr("http")+"/dhcp/leases")
	out := mustRun(t, argv[0], argv[1:]...)
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("bootsrv lease list in proxy mode: %s", out)
	}
	if strings.Contains(n.proc.Logs(), `"message":"offer"`) || strings.Contains(n.proc.Logs(), `"message":"ack"`) {
		t.Errorf("bootsrv logged a server-mode offer or ack")
	}
}

// dnsmasqLease is the address dnsmasq leased to mac, from its lease file.
func (n *proxyNet) dnsmasqLease(t *testing.T, mac string) string {
	t.Helper()
	b, err := os.ReadFile(n.dnsmasqLeases)
	if err != nil {
		t.Fatalf("dnsmasq lease file: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == mac {
			return f[2]
		}
	}
	t.Fatalf("dnsmasq leased nothing to %s:\n%s\ndnsmasq log:\n%s", mac, b, n.dnsmasqLog.String())
	return ""
}

var guestIP = regexp.MustCompile(`BOOTSRV-PROXY-IP-(10\.79\.0\.\d+)-NS-([0-9.]*)-END`)

// checkGuest asserts the guest ran the script with an address from
// dnsmasq's range, fetched the kernel-sized file, and that dnsmasq leased
// that same address to its MAC.
func (n *proxyNet) checkGuest(t *testing.T, out, mac string) {
	t.Helper()
	m := guestIP.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("guest printed no address line:\n%s", out)
	}
	if want := n.dnsmasqLease(t, mac); m[1] != want {
		t.Errorf("guest has %s, dnsmasq leased %s", m[1], want)
	}
	t.Logf("guest address %s (dnsmasq range), next-server %q", m[1], m[2])
	if !strings.Contains(out, "BOOTSRV-PROXY-FETCHED-OK") {
		t.Errorf("guest did not fetch kernel.bin:\n%s", out)
	}
	// bootsrv logs a transfer once the guest's last ACK is in, which may
	// come after the guest printed its marker.
	want := fmt.Sprintf(`"file":"kernel.bin","bytes":%d,`, kernelSize)
	waitFor(t, 10*time.Second, "bootsrv's log line for all of kernel.bin ("+want+")", func() bool {
		return strings.Contains(n.proc.Logs(), want)
	})
	n.checkNoLeases(t)
}

// TestProxyBootBIOS boots qemu's BIOS with the iPXE ROM beside dnsmasq. The
// ROM is iPXE: it takes its address from dnsmasq, sends its
// ProxyDHCPREQUEST to bootsrv's port 4011 and gets boot.ipxe.
func TestProxyBootBIOS(t *testing.T) {
	n := startProxyNet(t)
	mac := "52:54:00:79:00:01"
	out := n.bootGuest(t, 120*time.Second, "BOOTSRV-PROXY-MARKER-pcbios",
		"-boot", "n", "-device", "e1000,netdev=n0,mac="+mac)
	n.checkGuest(t, out, mac)
	if v := n.metric(t, `bootsrv_dhcp_proxy_replies_total{client="ipxe",port="dhcp"}`); v < 1 {
		t.Errorf("no proxy offer to iPXE on port 67: %v", v)
	}
	// This iPXE takes a proxy offer with siaddr and bootfile as it is
	// (dhcp_has_pxeopts); it sends a ProxyDHCPREQUEST to 4011 only for
	// offers without them.
	t.Logf("ProxyDHCPACKs on 4011: %v", n.metric(t, `bootsrv_dhcp_proxy_replies_total{client="ipxe",port="pxe"}`))
	if v := n.metric(t, `bootsrv_dhcp_drops_total{reason="other_server"}`); v < 1 {
		t.Errorf("the guest's REQUEST to dnsmasq was not left alone: %v", v)
	}
	t.Logf("bootsrv proxy lines:\n%s", grepLines(n.proc.Logs(), `"proxy reply"`))
}

// TestProxyBootUEFI boots OVMF through its own PXE client (virtio-net, no
// ROM) beside dnsmasq: firmware gets snponly.efi, iPXE from it gets
// boot.ipxe, both through the proxy.
func TestProxyBootUEFI(t *testing.T) {
	n := startProxyNet(t)
	firmware := ovmfDrives(t)
	mac := "52:54:00:79:00:02"
	out := n.bootGuest(t, 240*time.Second, "BOOTSRV-PROXY-MARKER-efi",
		append(firmware, "-device", "virtio-net-pci,netdev=n0,romfile=,mac="+mac)...)
	n.checkGuest(t, out, mac)
	if v := n.metric(t, `bootsrv_dhcp_proxy_replies_total{client="efi64",port="dhcp"}`); v < 1 {
		t.Errorf("no proxy offer to the firmware: %v", v)
	}
	if v := n.metric(t, `bootsrv_dhcp_proxy_replies_total{client="ipxe",port="dhcp"}`); v < 1 {
		t.Errorf("no proxy offer to iPXE from snponly.efi: %v", v)
	}
	// OVMF's PXE client and iPXE both boot from the proxy offer; neither
	// sends a request to port 4011 here (see TestProxyPXEPort).
	t.Logf("ProxyDHCPACKs on 4011: %v", n.metric(t, `bootsrv_dhcp_proxy_replies_total{client="ipxe",port="pxe"}`))
	logs := n.proc.Logs()
	for _, f := range []string{"snponly.efi", "boot.ipxe"} {
		if !strings.Contains(logs, f) {
			t.Errorf("bootsrv never logged %s", f)
		}
	}
	t.Logf("bootsrv proxy lines:\n%s", grepLines(logs, `"proxy reply"`))
}

// TestProxyNmap: nmap's broadcast-dhcp-discover (no vendor class) sees
// dnsmasq's offer only, and bootsrv counts it as not PXE.
func TestProxyNmap(t *testing.T) {
	requireTool(t, "nmap")
	n := startProxyNet(t)
	mustRun(t, "ip", "-n", n.cli, "addr", "add", "10.79.0.9/24", "dev", "br0")
	out, err := runTool(t, 60*time.Second, "ip", "netns", "exec", n.cli, "nmap", "-e", "br0", "--script",
		"broadcast-dhcp-discover", "--script-args", "broadcast-dhcp-discover.timeout=5s")
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Server Identifier: 10.79.0.2") || strings.Contains(out, "Server Identifier: 10.79.0.1") {
		t.Errorf("nmap should see dnsmasq's offer only:\n%s", out)
	}
	if v := n.metric(t, `bootsrv_dhcp_drops_total{reason="not_pxe"}`); v < 1 {
		t.Errorf("drops_total{not_pxe} = %v", v)
	}
	n.checkNoLeases(t)
}

// TestProxyPXEPort sends a PXE boot server DHCPREQUEST (as iPXE's
// ProxyDHCPREQUEST or EDK2's BINL request) from the client namespace to
// bootsrv's port 4011 over the veth/bridge path, with a socket opened in
// that namespace, since no installed tool speaks DHCP to port 4011.
func TestProxyPXEPort(t *testing.T) {
	n := startProxyNet(t)
	mustRun(t, "ip", "-n", n.cli, "addr", "add", "10.79.0.9/24", "dev", "br0")
	conn := listenUDPInNetns(t, n.cli, "10.79.0.9:0")
	for name, tc := range map[string]struct {
		vc, file, client string
		arch             byte
		mods             []dhcpv4.Modifier
	}{
		"efi64 binl": {"PXEClient:Arch:00007:UNDI:003016", "snponly.efi", "efi64", 7, nil},
		"ipxe":       {"PXEClient:Arch:00000:UNDI:002001", "boot.ipxe", "ipxe", 0, []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE"))}},
		"non-pxe":    {"", "", "", 0, nil},
	} {
		mods := append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithHwAddr(net.HardwareAddr{0x52, 0x54, 0, 0x79, 0, 9}), dhcpv4.WithClientIP(net.IPv4(10, 79, 0, 9)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 79, 0, 1))),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, tc.arch}))}, tc.mods...)
		if tc.vc != "" {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(tc.vc)))
		}
		req, err := dhcpv4.New(mods...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.IPv4(10, 79, 0, 1), Port: 4011}); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 1500)
		nr, from, err := conn.ReadFrom(buf)
		if tc.file == "" {
			if err == nil {
				t.Errorf("%s: got a reply from %s", name, from)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: no ACK from port 4011: %v\n%s", name, err, n.proc.Logs())
		}
		ack, err := dhcpv4.FromBytes(buf[:nr])
		if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.TransactionID != req.TransactionID {
			t.Fatalf("%s: reply %v %v", name, ack, err)
		}
		if from.String() != "10.79.0.1:4011" || ack.BootFileName != tc.file || !ack.YourIPAddr.Equal(net.IPv4zero) ||
			ack.ClassIdentifier() != "PXEClient" || ack.ServerIPAddr.String() != "10.79.0.1" {
			t.Errorf("%s: from %s: %s", name, from, ack.Summary())
		}
		if v := n.metric(t, fmt.Sprintf(`bootsrv_dhcp_proxy_replies_total{client=%q,port="pxe"}`, tc.client)); v != 1 {
			t.Errorf("%s: proxy_replies_total{pxe} = %v", name, v)
		}
	}
	if v := n.metric(t, `bootsrv_dhcp_drops_total{reason="not_pxe"}`); v != 1 {
		t.Errorf("drops_total{not_pxe} = %v", v)
	}
	n.checkNoLeases(t)
}

// listenUDPInNetns opens a UDP socket inside namespace ns: a locked thread
// enters the namespace (setns(2)), creates the socket (which stays in that
// namespace) and exits without unlocking, so the thread is discarded.
func listenUDPInNetns(t *testing.T, ns, addr string) net.PacketConn {
	t.Helper()
	type result struct {
		c   net.PacketConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		c, err := net.ListenPacket("udp4", addr)
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
