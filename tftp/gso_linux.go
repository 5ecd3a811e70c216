package tftp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18): one sendmsg
// hands the kernel a window of DATA packets as one buffer and a segment
// size, and the kernel (or the NIC) cuts it into datagrams. The stack is
// traversed once per window instead of once per block, with one system
// call. The receiver sees ordinary datagrams.
const (
	// gsoMaxSegments is UDP_MAX_SEGMENTS of the kernels that have it
	// lowest (64; newer ones take 128).
	gsoMaxSegments = 64
	// gsoMaxBytes bounds one send: a UDP datagram's payload, with room
	// for IPv6's larger header.
	gsoMaxBytes = 65000
)

// segmenter sends several DATA packets of one transfer with one sendmsg.
type segmenter struct {
	rc  syscall.RawConn
	to  unix.Sockaddr
	oob []byte // one control message: SOL_UDP, UDP_SEGMENT, the segment size
}

// newSegmenter prepares UDP GSO sends on c to peer; nil when c cannot
// make them.
func newSegmenter(c *net.UDPConn, peer netip.AddrPort) *segmenter {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	g := &segmenter{rc: rc}
	a := peer.Addr()
	switch {
	case a.Is4():
		g.to = &unix.SockaddrInet4{Port: int(peer.Port()), Addr: a.As4()}
	case a.Zone() == "":
		g.to = &unix.SockaddrInet6{Port: int(peer.Port()), Addr: a.As16()}
	default:
		ifi, err := net.InterfaceByName(a.Zone())
		if err != nil {
			return nil
		}
		g.to = &unix.SockaddrInet6{Port: int(peer.Port()), Addr: a.As16(), ZoneId: uint32(ifi.Index)}
	}
	g.oob = make([]byte, unix.CmsgSpace(2)) // allocated: aligned for the header
	h := (*unix.Cmsghdr)(unsafe.Pointer(&g.oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	return g
}

// send sends bufs, concatenated, as datagrams of seg bytes each (the last
// one may be shorter). errGSOUnsupported means the kernel or the route
// cannot segment (an old kernel, IPsec, a segment over the MTU): nothing
// was sent, and the caller sends the datagrams one by one.
func (g *segmenter) send(bufs [][]byte, seg int) error {
	binary.NativeEndian.PutUint16(g.oob[unix.CmsgLen(0):], uint16(seg))
	var serr error
	err := g.rc.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgBuffers(int(fd), bufs, g.oob, g.to, 0)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	switch {
	case errors.Is(serr, unix.EINVAL), errors.Is(serr, unix.EIO), errors.Is(serr, unix.ENOPROTOOPT),
		errors.Is(serr, unix.EOPNOTSUPP), errors.Is(serr, unix.EMSGSIZE):
		return errGSOUnsupported
	}
	return serr
}

var errGSOUnsupported = errors.New("UDP segmentation offload not available")
