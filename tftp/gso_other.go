//go:build !linux

package tftp

import (
	"errors"
	"net"
	"net/netip"
)

// Outside Linux there is no UDP_SEGMENT: windows go out block by block.
const (
	gsoMaxSegments = 1
	gsoMaxBytes    = 0
)

type segmenter struct{}

func newSegmenter(*net.UDPConn, netip.AddrPort) *segmenter { return nil }

func (*segmenter) send([][]byte, int) error { return errGSOUnsupported }

var errGSOUnsupported = errors.New("UDP segmentation offload not available")
