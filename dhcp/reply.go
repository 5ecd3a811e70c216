package dhcp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// reply builds an OFFER or ACK for ip (invalid for INFORM's ACK, which
// carries no address and no lease time, RFC 2131 §4.3.5), and says which
// config key decided its boot information ("" when it has none): a ZTP
// rule, a host's override, or the boot entry for the client's kind.
func (s *Server) reply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, p *pool, h *host, ip netip.Addr) (*dhcpv4.DHCPv4, string) {
	resp := s.newReply(req, mt)
	if ip.IsValid() {
		resp.YourIPAddr = ip.AsSlice()
		setOptions(resp, p.wire.lease)
	}
	if mt == dhcpv4.MessageTypeAck {
		resp.ClientIPAddr = req.ClientIPAddr // RFC 2131 Table 3
	}
	setOptions(resp, p.wire.network)
	if h != nil && h.hostname != "" {
		resp.UpdateOption(dhcpv4.OptHostName(h.hostname))
	}
	decided := s.addBoot(req, resp, h).source
	for _, o := range p.options {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(o.code), o.data))
	}
	if h != nil {
		for _, o := range h.options {
			resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(o.code), o.data))
		}
	}
	// Zero-touch provisioning rules go on top of pool, host and boot
	// policy, for any client.
	if i := matchRule(s.comp().rules, ruleRequestOf(req)); i >= 0 {
		applyRule(resp, &s.comp().rules[i])
		decided = ruleKey(i)
	}
	return resp, decided
}

// addBoot adds boot information for PXE, HTTP boot and iPXE clients and
// returns the policy's decision (kind bios, efi64, ipxe, http... and the
// key that chose the file); the zero value when it added nothing.
func (s *Server) addBoot(req, resp *dhcpv4.DHCPv4, h *host) bootReply {
	br := bootRequest{
		vendorClass: req.ClassIdentifier(),
		arch:        -1,
		userClass:   req.Options.Get(dhcpv4.OptionUserClassInformation),
		ipxeEncap:   req.Options.Has(dhcpv4.GenericOptionCode(175)),
	}
	if a := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
		br.arch = int(binary.BigEndian.Uint16(a))
	}
	b, ok := bootPolicy(s.comp().boot, h, s.serverIP, br)
	if !ok {
		return bootReply{}
	}
	// PXE 2.1 and RFC 2131 §2: siaddr is the next server, file the
	// bootfile; options 66/67 (RFC 2132 §9.4, §9.5) carry the same for
	// clients that read options.
	resp.ServerIPAddr = b.nextServer.AsSlice()
	resp.ServerHostName = b.nextServer.String()
	if len(b.file) < 128 {
		resp.BootFileName = b.file
	}
	resp.UpdateOption(dhcpv4.OptTFTPServerName(b.nextServer.String()))
	resp.UpdateOption(dhcpv4.OptBootFileName(b.file))
	if b.vendorClass != "" {
		resp.UpdateOption(dhcpv4.OptClassIdentifier(b.vendorClass))
	}
	if b.pxeVendor != nil {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, b.pxeVendor))
	}
	// RFC 4578 §2.3: the client machine identifier is echoed.
	if uuid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); uuid != nil {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, uuid))
	}
	return b
}

// nak builds a DHCPNAK (RFC 2131 Table 3): no address, no configuration.
func (s *Server) nak(req *dhcpv4.DHCPv4, why string) *dhcpv4.DHCPv4 {
	resp := s.newReply(req, dhcpv4.MessageTypeNak)
	resp.UpdateOption(dhcpv4.OptMessage(why))
	if ipOf(req.GatewayIPAddr).IsValid() {
		resp.SetBroadcast() // §4.3.2: a relay must broadcast the NAK
	}
	return resp
}

// newReply starts a reply to req: xid, flags, giaddr and chaddr copied,
// option 82 echoed (RFC 3046 §2.2), option 61 echoed (RFC 6842), server
// identifier set. Built directly rather than with dhcpv4.New, which draws
// a random xid the reply then overwrites: one syscall per reply saved.
// The reply comes from the server's pool (a work gives it back once it
// is sent) and shares chaddr, giaddr and the echoed options with req.
func (s *Server) newReply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	resp, _ := s.replies.Get().(*dhcpv4.DHCPv4)
	if resp == nil {
		resp = &dhcpv4.DHCPv4{Options: dhcpv4.Options{}}
	}
	opts := resp.Options
	clear(opts)
	*resp = dhcpv4.DHCPv4{
		OpCode: dhcpv4.OpcodeBootReply, HWType: req.HWType, TransactionID: req.TransactionID,
		Flags: req.Flags, ClientHWAddr: req.ClientHWAddr,
		ClientIPAddr: net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero,
		GatewayIPAddr: req.GatewayIPAddr, Options: opts,
	}
	if resp.GatewayIPAddr == nil {
		resp.GatewayIPAddr = net.IPv4zero
	}
	if int(mt) < len(messageTypeOption) {
		opts[optMessageType] = messageTypeOption[mt][:1:1]
	} else {
		resp.UpdateOption(dhcpv4.OptMessageType(mt))
	}
	opts[optServerID] = s.serverIDOption
	if s.serverIDOption == nil { // an Explainer's server
		opts[optServerID] = s.serverIP.AsSlice()
	}
	for _, code := range [...]uint8{optAgent, optClientID} {
		if v, ok := req.Options[code]; ok {
			opts[code] = v
		}
	}
	return resp
}

// Option codes newReply sets (RFC 2132 §9.6, §9.7, §9.14).
const (
	optMessageType = 53
	optServerID    = 54
	optClientID    = 61
)

// messageTypeOption holds the value of option 53 for each message type,
// so that a reply does not allocate one; read only.
var messageTypeOption = [...][1]byte{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}}

// poolWire is a pool's own options, encoded once when the config is
// compiled rather than for every reply. The values are shared by every
// reply and never written: capacity ends at length, so an append copies.
type poolWire struct {
	lease   []option // 51 lease time, 58 T1, 59 T2: OFFERs and ACKs, not INFORM's ACK
	network []option // 1 mask, 3 router, 6 DNS, 42 NTP, 15 domain, 26 MTU, as configured
}

// encodeWire fills p.wire from p's settings.
func (p *pool) encodeWire() {
	secs := func(d time.Duration) []byte {
		return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(d/time.Second))
	}
	lt := p.leaseTime
	p.wire.lease = []option{
		{uint8(dhcpv4.OptionIPAddressLeaseTime), secs(lt)},
		{uint8(dhcpv4.OptionRenewTimeValue), secs(lt / 2)},         // T1, §4.4.5
		{uint8(dhcpv4.OptionRebindingTimeValue), secs(lt * 7 / 8)}, // T2
	}
	add := func(code dhcpv4.OptionCode, v []byte) {
		p.wire.network = append(p.wire.network, option{uint8(code.Code()), v[:len(v):len(v)]})
	}
	add(dhcpv4.OptionSubnetMask, net.CIDRMask(p.prefix.Bits(), 32))
	if p.router.IsValid() {
		add(dhcpv4.OptionRouter, p.router.AsSlice())
	}
	if len(p.dns) > 0 {
		add(dhcpv4.OptionDomainNameServer, dhcpv4.IPs(ips(p.dns)).ToBytes())
	}
	if len(p.ntp) > 0 {
		add(dhcpv4.OptionNTPServers, dhcpv4.IPs(ips(p.ntp)).ToBytes())
	}
	if p.domain != "" {
		add(dhcpv4.OptionDomainName, []byte(p.domain))
	}
	if p.mtu != 0 {
		add(dhcpv4.OptionInterfaceMTU, binary.BigEndian.AppendUint16(nil, uint16(p.mtu)))
	}
}

// setOptions puts opts into resp, over what it had for their codes.
func setOptions(resp *dhcpv4.DHCPv4, opts []option) {
	for _, o := range opts {
		resp.Options[o.code] = o.data
	}
}

func ips(as []netip.Addr) []net.IP {
	out := make([]net.IP, len(as))
	for i, a := range as {
		out[i] = a.AsSlice()
	}
	return out
}
