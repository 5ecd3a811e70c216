package ftp

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bootsrv/bootsrv/images"
)

var errSyntax = errors.New("syntax error")

// parsePORT parses "h1,h2,h3,h4,p1,p2" (RFC 959 §4.1.2).
func parsePORT(arg string) (netip.AddrPort, error) {
	f := strings.Split(strings.TrimSpace(arg), ",")
	if len(f) != 6 {
		return netip.AddrPort{}, errSyntax
	}
	var n [6]byte
	for i, s := range f {
		v, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return netip.AddrPort{}, errSyntax
		}
		n[i] = byte(v)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(n[:4])), uint16(n[4])<<8|uint16(n[5])), nil
}

// parseEPRT parses "<d><af><d><addr><d><port><d>" (RFC 2428 §2), where d
// is any printable delimiter, af is 1 (IPv4) or 2 (IPv6). A zone on an
// IPv6 address (lftp sends "fe80::2%eth0") names an interface of the
// client, which means nothing here: it is dropped.
func parseEPRT(arg string) (netip.AddrPort, error) {
	if len(arg) < 2 || arg[0] < 33 || arg[0] > 126 {
		return netip.AddrPort{}, errSyntax
	}
	f := strings.Split(arg, string(arg[0]))
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return netip.AddrPort{}, errSyntax
	}
	addr, err := netip.ParseAddr(f[2])
	if err != nil {
		return netip.AddrPort{}, errSyntax
	}
	addr = addr.WithZone("")
	switch {
	case f[1] == "1" && addr.Is4():
	case f[1] == "2" && addr.Is6():
	default:
		return netip.AddrPort{}, errSyntax
	}
	port, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, errSyntax
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// cleanDir cleans a configured store folder.
func cleanDir(dir string) (string, error) { return images.Clean(dir) }
