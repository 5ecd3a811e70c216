package dhcp

import (
	"testing"

	"golang.org/x/net/ipv6"
)

// FuzzSolicitation: whatever arrives on the router advertisement socket,
// only a router solicitation (ICMPv6 type 133, code 0, at least its
// 8-byte header) received with hop limit 255 (RFC 4861 §6.1.1) is
// answered; nothing panics.
func FuzzSolicitation(f *testing.F) {
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0}, 255)
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56}, 255)
	f.Add([]byte{134, 0, 0, 0, 64, 0xc0, 0, 30}, 255)
	f.Add([]byte{133, 1, 0, 0, 0, 0, 0, 0}, 64)
	f.Add([]byte{133}, 255)
	f.Fuzz(func(t *testing.T, b []byte, hopLimit int) {
		cm := &ipv6.ControlMessage{HopLimit: hopLimit}
		if !isSolicitation(b, cm) {
			return
		}
		if len(b) < 8 || b[0] != 133 || b[1] != 0 || hopLimit != 255 {
			t.Fatalf("answered % x with hop limit %d", b, hopLimit)
		}
	})
}
