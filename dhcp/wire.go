package dhcp

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// The fixed part of a DHCP message (RFC 2131 §2, Figure 1) and what ends
// it: the magic cookie of RFC 2132 §2, then the options.
const (
	headerLen    = 236
	optionsStart = headerLen + 4
	// bootpMinLen: RFC 951 messages are at least 300 bytes, and some
	// relays drop shorter ones; replies are padded to it.
	bootpMinLen = 300
	optPad      = 0
	optEnd      = 255
	optAgent    = 82 // RFC 3046 §2.1: the relay agent option comes last
)

var magicCookie = [4]byte{99, 130, 83, 99}

var errShortPacket = errors.New("dhcp: packet shorter than its fixed header")

// decodeInto decodes the DHCP message in b into d, as dhcpv4.FromBytes
// does (the same fields, the same options, the same errors for the same
// input), but without copying: addresses, chaddr and option values are
// slices of b, and d's option map is cleared and reused. d is valid only
// while b is neither changed nor reused. An option that occurs more than
// once is concatenated (RFC 3396 §5) into a fresh slice, never over b.
func decodeInto(d *dhcpv4.DHCPv4, b []byte) error {
	if len(b) < optionsStart {
		return errShortPacket
	}
	d.OpCode = dhcpv4.OpcodeType(b[0])
	d.HWType = iana.HWType(b[1])
	hlen := int(min(b[2], 16))
	d.HopCount = b[3]
	copy(d.TransactionID[:], b[4:8])
	d.NumSeconds = binary.BigEndian.Uint16(b[8:])
	d.Flags = binary.BigEndian.Uint16(b[10:])
	d.ClientIPAddr = net.IP(b[12:16:16])
	d.YourIPAddr = net.IP(b[16:20:20])
	d.ServerIPAddr = net.IP(b[20:24:24])
	d.GatewayIPAddr = net.IP(b[24:28:28])
	d.ClientHWAddr = net.HardwareAddr(b[28 : 28+hlen : 28+hlen])
	d.ServerHostName = cString(b[44:108])
	d.BootFileName = cString(b[108:236])
	if [4]byte(b[headerLen:optionsStart]) != magicCookie {
		return errors.New("dhcp: malformed packet: bad magic cookie")
	}
	if d.Options == nil {
		d.Options = dhcpv4.Options{}
	}
	clear(d.Options)
	return decodeOptions(d.Options, b[optionsStart:])
}

// decodeOptions reads options up to End (RFC 2132 §3.2), which must be
// there unless there are no options at all (as dhcpv4.FromBytes has it);
// pads are skipped.
func decodeOptions(o dhcpv4.Options, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	for len(b) > 0 {
		code := b[0]
		b = b[1:]
		switch code {
		case optPad:
			continue
		case optEnd:
			return nil
		}
		if len(b) == 0 {
			return io.ErrUnexpectedEOF
		}
		n := int(b[0])
		b = b[1:]
		if n > len(b) {
			return errors.New("dhcp: option longer than the packet")
		}
		v := b[:n:n]
		b = b[n:]
		prev, seen := o[code]
		switch {
		case seen:
			o[code] = append(prev, v...) // copies: prev's capacity ends at its length
		case n > 0:
			o[code] = v
		default:
			o[code] = nil // present, empty: as dhcpv4.FromBytes leaves it
		}
	}
	return io.ErrUnexpectedEOF
}

// cString is the NUL-terminated string at the start of b, or all of b.
func cString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

// appendPacket appends the wire form of d to dst: the same bytes as
// d.ToBytes() (options sorted by code, option 82 last, long ones split per
// RFC 3396, padded to bootpMinLen), without the allocations. An address
// field that is not IPv4 is written as zeros.
func appendPacket(dst []byte, d *dhcpv4.DHCPv4) []byte {
	start := len(dst)
	dst = append(dst, byte(d.OpCode), byte(d.HWType), byte(len(d.ClientHWAddr)), d.HopCount)
	dst = append(dst, d.TransactionID[:]...)
	dst = binary.BigEndian.AppendUint16(dst, d.NumSeconds)
	dst = binary.BigEndian.AppendUint16(dst, d.Flags)
	for _, ip := range [...]net.IP{d.ClientIPAddr, d.YourIPAddr, d.ServerIPAddr, d.GatewayIPAddr} {
		var a [4]byte
		if v4 := ip.To4(); v4 != nil {
			a = [4]byte(v4)
		}
		dst = append(dst, a[:]...)
	}
	dst = appendField(dst, d.ClientHWAddr, 16, 16)
	dst = appendField(dst, []byte(d.ServerHostName), 64, 63)
	dst = appendField(dst, []byte(d.BootFileName), 128, 127)
	dst = append(dst, magicCookie[:]...)
	var codes [256]byte
	n := 0
	for c := range d.Options {
		if c != optPad && c != optEnd && c != optAgent {
			codes[n] = c
			n++
		}
	}
	slices.Sort(codes[:n])
	if _, ok := d.Options[optAgent]; ok {
		codes[n] = optAgent
		n++
	}
	for _, c := range codes[:n] {
		dst = appendOption(dst, c, d.Options[c])
	}
	dst = append(dst, optEnd)
	for len(dst)-start < bootpMinLen {
		dst = append(dst, optPad)
	}
	return dst
}

// appendField appends v cut to max bytes, zero-filled to size bytes.
func appendField(dst, v []byte, size, max int) []byte {
	v = v[:min(len(v), max)]
	dst = append(dst, v...)
	for range size - len(v) {
		dst = append(dst, 0)
	}
	return dst
}

// appendOption appends one option; a value over 255 bytes goes out as
// several options of the same code (RFC 3396 §4).
func appendOption(dst []byte, code byte, v []byte) []byte {
	if len(v) == 0 {
		return append(dst, code, 0)
	}
	for len(v) > 0 {
		n := min(len(v), 255)
		dst = append(dst, code, byte(n))
		dst = append(dst, v[:n]...)
		v = v[n:]
	}
	return dst
}

// msgType is d.MessageType() without its allocation: option 53 when it
// holds one byte, else MessageTypeNone.
func msgType(d *dhcpv4.DHCPv4) dhcpv4.MessageType {
	if v := d.Options[optMessageType]; len(v) == 1 {
		return dhcpv4.MessageType(v[0])
	}
	return dhcpv4.MessageTypeNone
}

// appendMAC appends hw as net.HardwareAddr.String writes it
// ("52:54:00:12:34:56"), for log fields that should not allocate a string.
func appendMAC(dst []byte, hw net.HardwareAddr) []byte {
	const hex = "0123456789abcdef"
	for i, b := range hw {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hex[b>>4], hex[b&0xf])
	}
	return dst
}

// appendXID appends xid as dhcpv4.TransactionID.String writes it
// ("0xdeadbeef").
func appendXID(dst []byte, xid dhcpv4.TransactionID) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '0', 'x')
	for _, b := range xid {
		dst = append(dst, hex[b>>4], hex[b&0xf])
	}
	return dst
}
