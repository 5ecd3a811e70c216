package dhcp

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/bootsrv/bootsrv/boot"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// addConfig adds the link's configuration (options 23 and 24) and the
// boot information to o's reply.
func (s *Server6) addConfig(r *req6, p *pool6, o *outcome6) {
	if p != nil {
		if p.dns != nil {
			o.resp.AddOption(p.dns)
		}
		if p.domains != nil {
			o.resp.AddOption(p.domains)
		}
	}
	d, ok := s.bootDecision(r)
	if i := s.matchRule6(r); i >= 0 {
		// Zero-touch provisioning rules go on top of the boot policy,
		// for any client, as for DHCPv4.
		d, ok = boot.Decision{File: s.comp().rules[i].url, Source: "dhcpv6.rules[" + strconv.Itoa(i) + "]"}, true
	}
	if !ok {
		return
	}
	// RFC 5970 §3.1, §3.2: the boot file URL and its parameters.
	o.resp.AddOption(dhcpv6.OptBootFileURL(d.File))
	if params := s.comp().params; params != nil {
		o.resp.AddOption(params)
	}
	if d.VendorClass == "HTTPClient" {
		// UEFI 2.5 §24.7.3: an HTTP boot client takes only offers that
		// name HTTPClient in the vendor class option.
		en := r.enterprise
		if en == 0 {
			en = 343 // Intel, as UEFI firmware sends
		}
		o.resp.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: en, Data: [][]byte{[]byte("HTTPClient")}})
	}
	o.file, o.decided = d.File, d.Source
}

// matchRule6 is the index of the first ZTP rule matching r, or -1.
func (s *Server6) matchRule6(r *req6) int {
	f := boot.Facts{VendorClass: r.vendorClass, MAC: r.mac}
	if len(r.hops) > 0 {
		in := r.hops[len(r.hops)-1] // the relay closest to the client
		f.CircuitID, f.RemoteID = in.interfaceID, in.remoteID
	}
	for i := range s.comp().rules {
		if s.comp().rules[i].match.Matches(f) {
			return i
		}
	}
	return -1
}

// bootDecision is the shared boot policy's answer for r.
func (s *Server6) bootDecision(r *req6) (boot.Decision, bool) {
	return boot.Decide(s.comp().boot, r.host.override(), boot.Request{VendorClass: r.vendorClass, Arch: r.arch, UserClass: r.userClass})
}

// override is the host's boot settings in the shared policy's terms; nil
// for no host.
func (h *host6) override() *boot.Override {
	if h == nil {
		return nil
	}
	return &boot.Override{Key: h.key, Bootfile: h.bootfile, IPXE: h.ipxe}
}

// noteArch remembers the architecture a client announced when it was
// given ip, for Client.
func (s *Server6) noteArch(ip netip.Addr, arch int) {
	if arch < 0 {
		s.seen.Delete(ip)
		return
	}
	s.seen.Store(ip, arch)
}

// Client returns what the server knows about the client holding an
// active DHCPv6 lease on ip, as Server.Client does for DHCPv4: for the
// boot scripts of a machine that fetches over IPv6.
func (s *Server6) Client(ip netip.Addr) (ClientInfo, bool) {
	l, ok := s.table.active(ip, s.now())
	if !ok {
		return ClientInfo{}, false
	}
	ci := ClientInfo{IP: l.IP, Hostname: l.Hostname, Arch: -1}
	ci.MAC, _ = net.ParseMAC(l.MAC)
	c := s.comp()
	duid, _ := hex.DecodeString(l.DUID)
	h := c.byDUID[string(duid)]
	if h == nil && ci.MAC != nil {
		h = c.byMAC[ci.MAC.String()]
	}
	if h != nil {
		ci.Host = &Host{MAC: h.conf.MAC, IP: h.conf.IP, Hostname: h.conf.Hostname, Bootfile: h.conf.Bootfile, IPXE: h.conf.IPXE}
		if h.hostname != "" {
			ci.Hostname = h.hostname
		}
	}
	if a, ok := s.seen.Load(l.IP); ok {
		ci.Arch = a.(int)
	}
	return ci, true
}

// recordIn tells the boot timeline a message came in.
func (s *Server6) recordIn(r *req6) {
	if s.events == nil {
		return
	}
	e := event.Event{MAC: r.mac, Service: event.DHCPv6, Kind: event.DHCPIn, MsgType: event.MsgTypeV6(uint8(r.msg.MessageType)),
		Arch: r.facts.arch, VendorClass: r.facts.vendorClass, UserClass: r.facts.userClass, Hostname: r.facts.hostname}
	switch r.msg.MessageType {
	case dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind, dhcpv6.MessageTypeRelease:
		// The address the machine holds, as a DHCPv4 REQUEST's ciaddr.
		if ia := r.msg.Options.OneIANA(); ia != nil {
			if a := hint(ia); a.IsValid() {
				e.IP = a
			}
		}
	}
	s.events.Record(e)
}

// answered logs a REPLY that binds addresses at info level, as the DHCPv4
// server logs its ACKs, and tells the boot timeline what went out: the
// boot file URL and what decided it.
func (s *Server6) answered(r *req6, o outcome6) {
	t := o.resp.MessageType
	if t == dhcpv6.MessageTypeReply && len(o.leases) > 0 {
		ips := make([]string, len(o.leases))
		for i, l := range o.leases {
			ips[i] = l.IP.String()
		}
		ev := s.log.Info().Str("ip", ips[0])
		if len(ips) > 1 {
			ev = ev.Strs("ips", ips)
		}
		mac := ""
		if r.mac != nil {
			mac = r.mac.String()
		}
		ev.Str("duid", hexColons(r.duid)).Uint32("iaid", o.leases[0].IAID).Str("mac", mac).Str("hostname", r.facts.hostname).
			Str("arch", r.facts.arch).Str("type", typeName6(r.msg.MessageType)).Str("bootfile", o.file).Str("decided_by", o.decided).
			Msg("dhcpv6 reply")
	}
	if s.events == nil {
		return
	}
	e := event.Event{MAC: r.mac, Service: event.DHCPv6, Kind: event.DHCPOut, MsgType: event.MsgTypeV6(uint8(t)), Result: event.OK,
		Arch: r.facts.arch, Hostname: r.facts.hostname, File: o.file, Rule: o.decided}
	if t == dhcpv6.MessageTypeReply && len(o.leases) > 0 {
		e.IP = o.leases[0].IP // the address is the machine's now
	}
	if o.failed != "" && len(o.leases) == 0 {
		e.Result, e.Detail = event.Failed, o.failed
	}
	s.events.Record(e)
}

// hexColons writes b as 00:01:02..., as DUIDs are usually shown.
func hexColons(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
