package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// hopLimit is HOP_COUNT_LIMIT (RFC 8415 §7.6): no message is relayed more
// often, so no deeper nesting is read.
const hopLimit = 8

// relayHop is one RELAY-FORW around a client's message (RFC 8415 §9),
// what the server needs of it to choose the pool and build the
// RELAY-REPL.
type relayHop struct {
	hopCount           uint8
	linkAddr, peerAddr netip.Addr
	interfaceID        []byte // option 18, echoed in the RELAY-REPL (§19.3); nil when absent
	remoteID           []byte // option 37 (RFC 4649), without the enterprise number; nil when absent
	clientLL           net.HardwareAddr
	clientLLType       uint16 // option 79 (RFC 6939): the client's link-layer address and its type
}

var errShort = errors.New("dhcpv6: message too short")

// parse6 reads a DHCPv6 datagram: the client's message and the relay
// messages around it (RELAY-FORW, or RELAY-REPL for a reply), outermost
// first. Options the server does not act
// on are kept raw when they do not parse, so one odd option from a
// client does not cost it its answer; the client and server identifiers
// and the IAs must parse.
func parse6(b []byte) (*dhcpv6.Message, []relayHop, error) {
	var hops []relayHop
	for {
		if len(b) < 4 {
			return nil, nil, errShort
		}
		if t := dhcpv6.MessageType(b[0]); t != dhcpv6.MessageTypeRelayForward && t != dhcpv6.MessageTypeRelayReply {
			break
		}
		if len(b) < 34 {
			return nil, nil, errShort
		}
		if len(hops) >= hopLimit {
			return nil, nil, errors.New("dhcpv6: relayed more than 8 times")
		}
		h := relayHop{hopCount: b[1], linkAddr: netip.AddrFrom16([16]byte(b[2:18])), peerAddr: netip.AddrFrom16([16]byte(b[18:34]))}
		var inner []byte
		err := walkOptions(b[34:], func(code uint16, v []byte) error {
			switch dhcpv6.OptionCode(code) {
			case dhcpv6.OptionRelayMsg:
				inner = v
			case dhcpv6.OptionInterfaceID:
				h.interfaceID = v
			case dhcpv6.OptionRemoteID:
				if len(v) > 4 {
					h.remoteID = v[4:]
				}
			case dhcpv6.OptionClientLinkLayerAddr:
				if len(v) > 2 {
					h.clientLLType, h.clientLL = binary.BigEndian.Uint16(v), net.HardwareAddr(v[2:])
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if inner == nil {
			return nil, nil, errors.New("dhcpv6: relay-forw without a relay message")
		}
		hops = append(hops, h)
		b = inner
	}
	m := &dhcpv6.Message{MessageType: dhcpv6.MessageType(b[0])}
	copy(m.TransactionID[:], b[1:4])
	if err := m.Options.FromBytesWithParser(b[4:], lenientOption); err != nil {
		return nil, nil, err
	}
	return m, hops, nil
}

// walkOptions calls f with each option's code and value.
func walkOptions(b []byte, f func(code uint16, v []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return errShort
		}
		code, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			return errShort
		}
		if err := f(code, b[4:4+n]); err != nil {
			return err
		}
		b = b[4+n:]
	}
	return nil
}

// strictOptions must parse: the server's answer depends on them.
var strictOptions = map[dhcpv6.OptionCode]bool{
	dhcpv6.OptionClientID: true, dhcpv6.OptionServerID: true, dhcpv6.OptionIANA: true,
	dhcpv6.OptionIATA: true, dhcpv6.OptionIAPD: true, dhcpv6.OptionClientArchType: true,
}

// readOptions are the options the server reads; others stay raw, unparsed.
var readOptions = map[dhcpv6.OptionCode]bool{
	dhcpv6.OptionUserClass: true, dhcpv6.OptionVendorClass: true, dhcpv6.OptionFQDN: true,
}

func lenientOption(code dhcpv6.OptionCode, data []byte) (dhcpv6.Option, error) {
	if !strictOptions[code] && !readOptions[code] {
		return &dhcpv6.OptionGeneric{OptionCode: code, OptionData: data}, nil
	}
	o, err := dhcpv6.ParseOption(code, data)
	if err != nil {
		if strictOptions[code] {
			return nil, fmt.Errorf("option %s: %w", code, err)
		}
		return &dhcpv6.OptionGeneric{OptionCode: code, OptionData: append([]byte(nil), data...)}, nil
	}
	return o, nil
}

// wrapReply puts a reply to a relayed message in RELAY-REPLs mirroring
// the RELAY-FORWs (RFC 8415 §19.3): hop count, link and peer address
// copied, the interface-id echoed.
func wrapReply(reply []byte, hops []relayHop) []byte {
	for i := len(hops) - 1; i >= 0; i-- {
		h := hops[i]
		out := make([]byte, 0, 34+8+len(h.interfaceID)+len(reply))
		la, pa := h.linkAddr.As16(), h.peerAddr.As16()
		out = append(append(append(out, byte(dhcpv6.MessageTypeRelayReply), h.hopCount), la[:]...), pa[:]...)
		if h.interfaceID != nil {
			out = appendOption6(out, dhcpv6.OptionInterfaceID, h.interfaceID)
		}
		reply = appendOption6(out, dhcpv6.OptionRelayMsg, reply)
	}
	return reply
}

// appendOption6 appends one DHCPv6 option: code, length, value.
func appendOption6(b []byte, code dhcpv6.OptionCode, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// duidMAC is the link-layer address a DUID-LLT or DUID-LL carries
// (RFC 8415 §11.2, §11.4) when it is an Ethernet address, else nil.
func duidMAC(duid []byte) net.HardwareAddr {
	if len(duid) < 4 || binary.BigEndian.Uint16(duid[2:]) != 1 {
		return nil
	}
	var lla []byte
	switch binary.BigEndian.Uint16(duid) {
	case 1: // DUID-LLT: type, hardware type, time, address
		if len(duid) == 14 {
			lla = duid[8:]
		}
	case 3: // DUID-LL: type, hardware type, address
		if len(duid) == 10 {
			lla = duid[4:]
		}
	}
	return net.HardwareAddr(lla)
}

// eui64MAC is the Ethernet address a link-local address formed from it
// by modified EUI-64 (RFC 4291 Appendix A) carries, else nil: iPXE and
// UEFI firmware form theirs that way.
func eui64MAC(a netip.Addr) net.HardwareAddr {
	if !a.Is6() || !a.IsLinkLocalUnicast() {
		return nil
	}
	b := a.As16()
	if b[11] != 0xff || b[12] != 0xfe {
		return nil
	}
	return net.HardwareAddr{b[8] ^ 2, b[9], b[10], b[13], b[14], b[15]}
}
