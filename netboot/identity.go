package netboot

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// procARP looks ip up in the kernel's IPv4 neighbour table of the network
// namespace bootsrv runs in. It reads /proc/self/net/arp rather than
// /proc/net/arp: the systemd unit's ProcSubset=pid hides /proc/net (a
// symbolic link to self/net) but not the process's own directory.
func procARP(ip netip.Addr) (net.HardwareAddr, bool) {
	f, err := os.Open("/proc/self/net/arp")
	if err != nil {
		return nil, false
	}
	defer f.Close()
	return lookupARP(f, ip)
}

// lookupARP reads the /proc/net/arp format:
//
//	IP address  HW type  Flags  HW address         Mask  Device
//	10.0.0.2    0x1      0x2    52:54:00:12:34:56  *     eth0
//
// and returns the complete (flag ATF_COM, 0x2) Ethernet entry for ip.
func lookupARP(r io.Reader, ip netip.Addr) (net.HardwareAddr, bool) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil, false
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != ip.String() {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil || flags&0x2 == 0 {
			continue
		}
		mac, err := net.ParseMAC(f[3])
		if err != nil || len(mac) != 6 || bytes.Equal(mac, make(net.HardwareAddr, 6)) {
			continue
		}
		return mac, true
	}
	return nil, false
}
