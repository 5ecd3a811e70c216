package tftp

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"
)

// oobSize holds one IP_PKTINFO and one IPV6_PKTINFO control message.
const oobSize = 128

// enableDstInfo asks the kernel to report, with each datagram, the local
// address it was sent to and the interface it came in on (IP_PKTINFO,
// RFC 3542 IPV6_RECVPKTINFO), so a listener on a wildcard address can open
// each transfer's socket on the address the client talked to. A dual-stack
// socket reports IPv4 requests through IP_PKTINFO as well.
func enableDstInfo(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var err4, err6 error
	if err := rc.Control(func(fd uintptr) {
		err4 = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
		err6 = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1)
	}); err != nil {
		return err
	}
	if err4 != nil && err6 != nil {
		return err4
	}
	return nil
}

// parseDstInfo returns the local address a request was sent to (for IPv4
// the address the kernel would answer from, so a broadcast request gets
// the interface's own address) and the interface index, from the control
// messages enableDstInfo asked for. An IPv6 link-local address comes with
// the zone of the interface it arrived on (see scope); a multicast one is
// no address to answer from, so it is left out and the kernel chooses.
func parseDstInfo(oob []byte) (netip.Addr, int) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, 0
	}
	var addr netip.Addr
	var ifindex int
	for _, m := range msgs {
		switch {
		case m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_PKTINFO &&
			len(m.Data) >= int(unsafe.Sizeof(syscall.Inet4Pktinfo{})):
			pi := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&m.Data[0]))
			a := netip.AddrFrom4(pi.Spec_dst)
			if a.IsUnspecified() {
				a = netip.AddrFrom4(pi.Addr)
			}
			return a, int(pi.Ifindex) // IPv4 wins on a dual-stack socket
		case m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_PKTINFO &&
			len(m.Data) >= int(unsafe.Sizeof(syscall.Inet6Pktinfo{})):
			pi := (*syscall.Inet6Pktinfo)(unsafe.Pointer(&m.Data[0]))
			addr, ifindex = netip.AddrFrom16(pi.Addr).Unmap(), int(pi.Ifindex)
		}
	}
	if addr.IsMulticast() {
		return netip.Addr{}, ifindex
	}
	return scope(addr, ifindex), ifindex
}

// scope gives a link-local IPv6 address the zone of interface ifindex.
// The same fe80:: address can exist on every link (RFC 4007 section 6),
// so the kernel binds one only with its interface: without the zone the
// transfer socket cannot be opened on the address the request came to.
// The zone is the interface's name, as Go writes zones in addresses and
// logs, or its index when the name cannot be found.
func scope(a netip.Addr, ifindex int) netip.Addr {
	if !a.Is6() || !a.IsLinkLocalUnicast() || a.Zone() != "" || ifindex <= 0 {
		return a
	}
	if ifi, err := net.InterfaceByIndex(ifindex); err == nil {
		return a.WithZone(ifi.Name)
	}
	return a.WithZone(strconv.Itoa(ifindex))
}
