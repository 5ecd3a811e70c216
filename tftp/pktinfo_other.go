//go:build !linux

package tftp

import (
	"net"
	"net/netip"
)

const oobSize = 0

// enableDstInfo is a no-op outside Linux: transfer sockets then bind to the
// listener's address, which is right unless it is a wildcard.
func enableDstInfo(*net.UDPConn) error { return nil }

func parseDstInfo([]byte) (netip.Addr, int) { return netip.Addr{}, 0 }
