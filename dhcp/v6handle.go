package dhcp

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/bootsrv/bootsrv/boot"
)

// req6 is one client message with what the server reads from it.
type req6 struct {
	msg  *dhcpv6.Message
	hops []relayHop       // the relay messages around it, outermost first
	src  netip.AddrPort   // where the datagram came from: the client, or the last relay
	duid []byte           // option 1; nil when absent (INFORMATION-REQUEST may omit it)
	mac  net.HardwareAddr // from the DUID, a relay's option 79 or an EUI-64 link-local address; nil: unknown
	host *host6
	// key is the client for the rate limits: its DUID.
	key         ClientKey
	arch        int    // option 61, first entry; -1 when absent
	vendorClass string // option 16, first class
	enterprise  uint32 // option 16's enterprise number
	userClass   []byte // option 15's classes, joined
	facts       clientFacts
	slot        bool // the handler holds a slot of sem (commitWaiting)
}

// outcome6 is a reply and what it tells the client, for the log and the
// timeline.
type outcome6 struct {
	resp    *dhcpv6.Message
	leases  []Lease // addresses the reply binds or renews
	failed  string  // why an IA got no address ("" when none failed)
	file    string  // option 59
	decided string  // the config key that chose file
}

// handlePacket answers one datagram from src.
func (s *Server6) handlePacket(conn net.PacketConn, src netip.AddrPort, b []byte) {
	s.handle(conn, src, b, false)
}

// handle answers one datagram from src; slot says the caller holds a
// handler slot (sem), which the request gives back while it waits for a
// commit.
func (s *Server6) handle(conn net.PacketConn, src netip.AddrPort, b []byte, slot bool) {
	defer func() {
		if r := recover(); r != nil {
			s.m.drop("panic")
			s.log.Error().Interface("panic", r).Msg("dhcpv6 handler panic")
		}
	}()
	out, dst, r, o := s.respondSlot(b, src, slot)
	if out == nil {
		return
	}
	if s.redirect != nil {
		dst = s.redirect(dst)
	}
	var err error
	if uc, ok := conn.(*net.UDPConn); ok {
		_, err = uc.WriteToUDPAddrPort(out, dst)
	} else {
		_, err = conn.WriteTo(out, net.UDPAddrFromAddrPort(dst))
	}
	if err != nil {
		s.m.drop("send_failed")
		s.log.Warn().Err(err).Str("to", dst.String()).Msg("dhcpv6 reply not sent")
		return
	}
	s.m.replies.WithLabelValues(typeName6(o.resp.MessageType)).Inc()
	s.answered(r, o)
}

// respond is the reply to datagram b from src, as bytes, and where it
// goes; nil when there is none. It logs and counts, but sends nothing.
func (s *Server6) respond(b []byte, src netip.AddrPort) ([]byte, netip.AddrPort, *req6, outcome6) {
	return s.respondSlot(b, src, false)
}

func (s *Server6) respondSlot(b []byte, src netip.AddrPort, slot bool) ([]byte, netip.AddrPort, *req6, outcome6) {
	msg, hops, err := parse6(b)
	if err != nil {
		s.m.drop("malformed")
		if ok, n := s.sample.allow(s.now()); ok {
			s.log.Warn().Str("peer", src.String()).Int("bytes", len(b)).Err(err).Int("suppressed", n).Msg("malformed dhcpv6 packet dropped")
		}
		return nil, src, nil, outcome6{}
	}
	s.m.byType[typeName6(msg.MessageType)].Inc()
	r := s.read6(msg, hops, src)
	r.slot = slot
	if why := s.check(r); why != "" {
		s.m.drop(why)
		return nil, src, nil, outcome6{}
	}
	if !s.admit(r) {
		return nil, src, nil, outcome6{}
	}
	s.recordIn(r)
	var o outcome6
	switch msg.MessageType {
	case dhcpv6.MessageTypeSolicit:
		o = s.solicit(r)
	case dhcpv6.MessageTypeRequest:
		o = s.request(r)
	case dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind:
		o = s.renew(r)
	case dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline:
		o = s.endLeases(r)
	case dhcpv6.MessageTypeConfirm:
		o = s.confirm(r)
	case dhcpv6.MessageTypeInformationRequest:
		o = s.inform(r)
	}
	if o.resp == nil {
		return nil, src, nil, o
	}
	out := o.resp.ToBytes()
	if len(hops) > 0 {
		out = wrapReply(out, hops)
	}
	return out, src, r, o
}

func typeName6(t dhcpv6.MessageType) string {
	if t >= dhcpv6.MessageTypeSolicit && t <= dhcpv6.MessageTypeRelayReply {
		return types6[t-1]
	}
	return "other"
}

// read6 takes what the server needs from a message.
func (s *Server6) read6(msg *dhcpv6.Message, hops []relayHop, src netip.AddrPort) *req6 {
	r := &req6{msg: msg, hops: hops, src: src, arch: -1}
	if o := msg.Options.GetOne(dhcpv6.OptionClientID); o != nil {
		r.duid = o.ToBytes()
	}
	r.key = ClientKey("u" + string(r.duid))
	if r.duid == nil {
		r.key = ClientKey("s" + src.Addr().String())
	}
	r.mac = duidMAC(r.duid)
	peer := src.Addr()
	if len(hops) > 0 {
		in := hops[len(hops)-1] // the relay closest to the client
		if r.mac == nil && in.clientLLType == 1 && len(in.clientLL) == 6 {
			r.mac = in.clientLL
		}
		peer = in.peerAddr
	}
	if r.mac == nil {
		r.mac = eui64MAC(peer)
	}
	c := s.comp()
	if r.duid != nil {
		r.host = c.byDUID[string(r.duid)]
	}
	if r.host == nil && r.mac != nil {
		r.host = c.byMAC[r.mac.String()]
	}
	if archs := msg.Options.ArchTypes(); len(archs) > 0 {
		r.arch = int(archs[0])
	}
	for _, vc := range msg.Options.VendorClasses() {
		if len(vc.Data) > 0 {
			r.vendorClass, r.enterprise = string(vc.Data[0]), vc.EnterpriseNumber
			break
		}
	}
	var classes []string
	for _, uc := range msg.Options.UserClasses() {
		classes = append(classes, string(uc))
	}
	r.userClass = []byte(strings.Join(classes, ","))
	r.facts = clientFacts{vendorClass: r.vendorClass, userClass: string(r.userClass)}
	switch {
	case r.arch >= 0:
		r.facts.arch = boot.ArchName(r.arch)
	case isBootClient(r.vendorClass):
		r.facts.arch = boot.ArchName(boot.ArchFromVendorClass(r.vendorClass))
	}
	if f := msg.Options.FQDN(); f != nil && f.DomainName != nil && len(f.DomainName.Labels) > 0 {
		r.facts.hostname, _, _ = strings.Cut(f.DomainName.Labels[0], ".")
	}
	if r.host != nil && r.host.hostname != "" {
		r.facts.hostname = r.host.hostname
	}
	return r
}

// check applies RFC 8415 §16's rules on which identifiers a message of
// each type carries; "" when it may be answered, else the drop reason.
func (s *Server6) check(r *req6) string {
	m := r.msg
	sid := m.Options.GetOne(dhcpv6.OptionServerID)
	ours := sid != nil && bytes.Equal(sid.ToBytes(), s.duid)
	switch m.MessageType {
	case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeConfirm, dhcpv6.MessageTypeRebind:
		if r.duid == nil || sid != nil {
			return "malformed"
		}
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline:
		switch {
		case r.duid == nil || sid == nil:
			return "malformed"
		case !ours:
			return "other_server"
		}
	case dhcpv6.MessageTypeInformationRequest:
		if sid != nil && !ours {
			return "other_server"
		}
		for _, code := range []dhcpv6.OptionCode{dhcpv6.OptionIANA, dhcpv6.OptionIATA, dhcpv6.OptionIAPD} {
			if m.Options.GetOne(code) != nil {
				return "malformed"
			}
		}
	default:
		return "unexpected_type"
	}
	return ""
}

// admit applies known_clients_only and the rate limits. A REQUEST that
// follows our ADVERTISE within offer_time, and a RENEW, REBIND, RELEASE
// or DECLINE from a client holding a lease, skip the global limit: an
// exchange we started is always finished.
func (s *Server6) admit(r *req6) bool {
	now := s.now()
	if s.comp().cfg.KnownClientsOnly && r.host == nil {
		s.dropped("unknown_client", now)
		return false
	}
	exempt := func(offered time.Time) bool {
		switch r.msg.MessageType {
		case dhcpv6.MessageTypeRequest:
			return !offered.IsZero() && now.Sub(offered) < s.comp().cfg.OfferTime
		case dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind, dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline:
			for _, ia := range r.msg.Options.IANA() {
				if s.table.bound(keyForIA(r.duid, iaid(ia)), now) {
					return true
				}
			}
		}
		return false
	}
	if why := s.limit.verdict(r.key, exempt, now); why != "" {
		s.dropped(why, now)
		return false
	}
	return true
}

func (s *Server6) dropped(reason string, now time.Time) {
	s.m.drop(reason)
	if ok, n := s.sample.allow(now); ok {
		s.log.Warn().Str("reason", reason).Int("suppressed", n).Msg("dhcpv6 message dropped")
	}
}

func iaid(ia *dhcpv6.OptIANA) uint32 {
	return uint32(ia.IaId[0])<<24 | uint32(ia.IaId[1])<<16 | uint32(ia.IaId[2])<<8 | uint32(ia.IaId[3])
}

// network is the pool of the client's link (RFC 8415 §13.1): by the
// link-address of the relay closest to the client that set one, else
// the server's own link.
func (s *Server6) network(r *req6) *pool6 {
	for i := len(r.hops) - 1; i >= 0; i-- {
		if la := r.hops[i].linkAddr; !la.IsUnspecified() && !la.IsLinkLocalUnicast() {
			return s.comp().poolFor(la)
		}
	}
	return s.comp().poolFor(s.serverIP)
}

// newReply starts a reply to r: transaction id, our server identifier,
// the client's identifier echoed (RFC 8415 §18.3).
func (s *Server6) newReply(r *req6, t dhcpv6.MessageType) *dhcpv6.Message {
	resp := &dhcpv6.Message{MessageType: t, TransactionID: r.msg.TransactionID}
	if cid := r.msg.Options.GetOne(dhcpv6.OptionClientID); cid != nil {
		resp.AddOption(cid)
	}
	resp.AddOption(s.serverID)
	return resp
}

// solicit answers SOLICIT (RFC 8415 §18.3.1): an ADVERTISE holding an
// address per IA_NA, or, with rapid commit on and asked for, a REPLY that
// binds them.
func (s *Server6) solicit(r *req6) outcome6 {
	p := s.network(r)
	if p == nil {
		s.m.drop("no_pool")
		return outcome6{}
	}
	c := s.comp()
	rapid := c.cfg.RapidCommit && r.msg.GetOneOption(dhcpv6.OptionRapidCommit) != nil
	if s.storeDown() {
		return outcome6{}
	}
	var o outcome6
	if rapid {
		o.resp = s.newReply(r, dhcpv6.MessageTypeReply)
		o.resp.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
		if !s.bindIAs(r, p, &o) {
			return outcome6{}
		}
	} else {
		o.resp = s.newReply(r, dhcpv6.MessageTypeAdvertise)
		now := s.now()
		for _, ia := range r.msg.Options.IANA() {
			k := keyForIA(r.duid, iaid(ia))
			ip, ok := s.table.pick(p, k, r.host, hint(ia), now, c.cfg.OfferTime)
			if !ok {
				s.noAddress(&o, ia, p)
				continue
			}
			o.resp.AddOption(iaWith(ia.IaId, p.leaseTime, ip))
			o.leases = append(o.leases, Lease{IP: ip, IAID: iaid(ia)})
			s.m.ia("success")
		}
		if len(o.leases) > 0 {
			s.limit.offered(r.key, o.leases[0].IP, now)
		}
		if c.cfg.Preference > 0 {
			o.resp.AddOption(dhcpv6.OptPreference(uint8(c.cfg.Preference)))
		}
	}
	s.otherIAs(r, &o)
	if len(o.leases) == 0 {
		o.resp.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail, StatusMessage: "no addresses available"})
	}
	s.addConfig(r, p, &o)
	return o
}

// request answers REQUEST (RFC 8415 §18.3.2): each IA_NA is bound, its
// lease durable before the REPLY, to the address advertised to it (or its
// current one, or a free one if the advertisement was lost).
func (s *Server6) request(r *req6) outcome6 {
	p := s.network(r)
	if p == nil {
		s.m.drop("no_pool")
		return outcome6{}
	}
	if s.storeDown() {
		return outcome6{}
	}
	o := outcome6{resp: s.newReply(r, dhcpv6.MessageTypeReply)}
	if !s.bindIAs(r, p, &o) {
		return outcome6{}
	}
	s.otherIAs(r, &o)
	s.addConfig(r, p, &o)
	return o
}

// bindIAs binds an address to each IA_NA of r into o's reply. It is
// false when a lease could not be made durable: then no reply is sent,
// and the client's retransmission finds the table as it was.
func (s *Server6) bindIAs(r *req6, p *pool6, o *outcome6) bool {
	for _, ia := range r.msg.Options.IANA() {
		if a := hint(ia); a.IsValid() && !p.prefix.Contains(a) {
			s.iaStatus(o, ia, iana.StatusNotOnLink, "not_on_link", "address not on this link")
			continue
		}
		l, why, err := s.bindIA(r, p, ia, hint(ia))
		if err != nil {
			return false
		}
		if why != "" {
			s.noAddress(o, ia, p)
			continue
		}
		o.resp.AddOption(iaWith(ia.IaId, p.leaseTime, l.IP))
		o.leases = append(o.leases, l)
		s.m.ia("success")
	}
	return true
}

// bindIA binds an address for identity association ia of r in p and
// makes the lease durable. why is non-empty when no address could be
// given; err when the store failed (no reply then).
func (s *Server6) bindIA(r *req6, p *pool6, ia *dhcpv6.OptIANA, want netip.Addr) (Lease, string, error) {
	now := s.now()
	k := keyForIA(r.duid, iaid(ia))
	s.table.mu.Lock()
	ip, ok := s.table.choose(p, k, r.host, want, now)
	s.table.mu.Unlock()
	if !ok {
		return Lease{}, "no free address in pool " + p.name, nil
	}
	l := Lease{IP: ip, DUID: hex.EncodeToString(r.duid), IAID: iaid(ia), Hostname: r.facts.hostname, Expiry: now.Add(p.leaseTime)}
	if r.mac != nil {
		l.MAC = r.mac.String()
	}
	undo, moved, ok := s.table.bind(p, k, r.host, l, now)
	if !ok {
		return Lease{}, "address not available", nil
	}
	changes := []Change{{Lease: l, Client: k, Reserved: r.host != nil && r.host.ip == ip}}
	for _, m := range moved {
		changes = append(changes, Change{Lease: m, Client: k, Ending: true})
	}
	if err := s.commitWaiting(r, now, changes); err != nil {
		s.table.unbind(undo)
		if te := (*TakenError)(nil); errors.As(err, &te) {
			// Another server's client got it first; the database decided.
			s.table.learn(te.Holder, now.Add(p.leaseTime))
			return Lease{}, "address taken by another server's client", nil
		}
		s.log.Error().Err(err).Str("ip", ip.String()).Msg("dhcpv6 lease not committed; no reply sent")
		return Lease{}, "", err
	}
	s.noteArch(ip, r.arch)
	return l, "", nil
}

// renew answers RENEW and REBIND (RFC 8415 §18.3.4, §18.3.5): an IA the
// server has a lease of gets it extended (durably, before the REPLY),
// with any other address it named at lifetimes 0; an IA it has none of
// gets NoBinding, or, rebinding addresses not on this link, those
// addresses at lifetimes 0.
func (s *Server6) renew(r *req6) outcome6 {
	p := s.network(r)
	if p == nil {
		s.m.drop("no_pool")
		return outcome6{}
	}
	if s.storeDown() {
		return outcome6{}
	}
	o := outcome6{resp: s.newReply(r, dhcpv6.MessageTypeReply)}
	for _, ia := range r.msg.Options.IANA() {
		k := keyForIA(r.duid, iaid(ia))
		var bound *Lease
		if cur, known := s.table.current(k); known && !cur.Declined && cur.Active(s.now()) && p.prefix.Contains(cur.IP) {
			l, why, err := s.bindIA(r, p, ia, cur.IP)
			if err != nil {
				return outcome6{}
			}
			if why == "" {
				bound = &l
			}
		}
		var gone []*dhcpv6.OptIAAddress
		for _, a := range ia.Options.Addresses() {
			if ip, _ := netip.AddrFromSlice(a.IPv6Addr); bound == nil || ip != bound.IP {
				gone = append(gone, &dhcpv6.OptIAAddress{IPv6Addr: a.IPv6Addr})
			}
		}
		offLink := slices.ContainsFunc(gone, func(a *dhcpv6.OptIAAddress) bool {
			ip, _ := netip.AddrFromSlice(a.IPv6Addr)
			return !p.prefix.Contains(ip)
		})
		switch {
		case bound != nil:
			out := iaWith(ia.IaId, p.leaseTime, bound.IP)
			for _, a := range gone {
				out.Options.Add(a)
			}
			o.resp.AddOption(out)
			o.leases = append(o.leases, *bound)
			s.m.ia("success")
		case r.msg.MessageType == dhcpv6.MessageTypeRebind && offLink:
			out := &dhcpv6.OptIANA{IaId: ia.IaId}
			for _, a := range gone {
				out.Options.Add(a)
			}
			o.resp.AddOption(out)
			o.failed = "addresses not on this link"
			s.m.ia("not_on_link")
		default:
			s.iaStatus(&o, ia, iana.StatusNoBinding, "no_binding", "no binding for this IA")
		}
	}
	s.otherIAs(r, &o)
	s.addConfig(r, p, &o)
	return o
}

// endLeases answers RELEASE and DECLINE (RFC 8415 §18.3.7, §18.3.8): the
// IA's addresses are ended (or quarantined for decline_time), durably,
// before the REPLY; an IA without a lease here gets NoBinding.
func (s *Server6) endLeases(r *req6) outcome6 {
	now := s.now()
	quarantine := time.Time{}
	if r.msg.MessageType == dhcpv6.MessageTypeDecline {
		quarantine = now.Add(s.comp().cfg.DeclineTime)
	}
	o := outcome6{resp: s.newReply(r, dhcpv6.MessageTypeReply)}
	var changes []Change
	for _, ia := range r.msg.Options.IANA() {
		k := keyForIA(r.duid, iaid(ia))
		ended := 0
		for _, a := range ia.Options.Addresses() {
			ip, _ := netip.AddrFromSlice(a.IPv6Addr)
			if l, ok := s.table.end(k, ip, now, quarantine); ok {
				changes = append(changes, Change{Lease: l, Client: k, Ending: true})
				ended++
			}
		}
		if ended == 0 {
			s.iaStatus(&o, ia, iana.StatusNoBinding, "no_binding", "no binding for this IA")
		} else {
			s.m.ia("success")
		}
	}
	if len(changes) > 0 {
		if err := s.commitWaiting(r, now, changes); err != nil {
			s.log.Error().Err(err).Msg("dhcpv6 lease end not committed; no reply sent")
			return outcome6{}
		}
		for _, c := range changes {
			s.log.Info().Str("ip", c.Lease.IP.String()).Str("type", typeName6(r.msg.MessageType)).Msg("dhcpv6 lease ended")
		}
	}
	o.resp.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess, StatusMessage: typeName6(r.msg.MessageType) + "d"})
	return o
}

// confirm answers CONFIRM (RFC 8415 §18.3.3): whether the client's
// addresses are on the link it is on now. No addresses: no reply.
func (s *Server6) confirm(r *req6) outcome6 {
	p := s.network(r)
	var addrs []netip.Addr
	for _, ia := range r.msg.Options.IANA() {
		for _, a := range ia.Options.Addresses() {
			ip, _ := netip.AddrFromSlice(a.IPv6Addr)
			addrs = append(addrs, ip)
		}
	}
	if len(addrs) == 0 || p == nil {
		s.m.drop("nothing_to_confirm")
		return outcome6{}
	}
	o := outcome6{resp: s.newReply(r, dhcpv6.MessageTypeReply)}
	for _, a := range addrs {
		if !p.prefix.Contains(a) {
			s.m.ia("not_on_link")
			o.failed = a.String() + " is not on this link"
			o.resp.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusNotOnLink, StatusMessage: o.failed})
			return o
		}
	}
	s.m.ia("success")
	o.resp.AddOption(&dhcpv6.OptStatusCode{StatusCode: iana.StatusSuccess, StatusMessage: "on link"})
	return o
}

// inform answers INFORMATION-REQUEST (RFC 8415 §18.3.6): configuration
// and boot options only.
func (s *Server6) inform(r *req6) outcome6 {
	o := outcome6{resp: s.newReply(r, dhcpv6.MessageTypeReply)}
	s.addConfig(r, s.network(r), &o)
	return o
}

// otherIAs answers the IA types the server does not serve: IA_TA with
// NoAddrsAvail, IA_PD with NoPrefixAvail.
func (s *Server6) otherIAs(r *req6, o *outcome6) {
	for _, opt := range r.msg.Options.Get(dhcpv6.OptionIATA) {
		if ta, ok := opt.(*dhcpv6.OptIATA); ok {
			s.m.ia("no_addrs_avail")
			o.resp.AddOption(&dhcpv6.OptIATA{IaId: ta.IaId, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{
				&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail, StatusMessage: "temporary addresses are not served"}}}})
		}
	}
	for _, opt := range r.msg.Options.Get(dhcpv6.OptionIAPD) {
		if pd, ok := opt.(*dhcpv6.OptIAPD); ok {
			s.m.ia("no_prefix_avail")
			o.resp.AddOption(&dhcpv6.OptIAPD{IaId: pd.IaId, Options: dhcpv6.PDOptions{Options: dhcpv6.Options{
				&dhcpv6.OptStatusCode{StatusCode: iana.StatusNoPrefixAvail, StatusMessage: "prefixes are not delegated"}}}})
		}
	}
}

// noAddress answers ia with NoAddrsAvail.
func (s *Server6) noAddress(o *outcome6, ia *dhcpv6.OptIANA, p *pool6) {
	s.iaStatus(o, ia, iana.StatusNoAddrsAvail, "no_addrs_avail", "no free address in pool "+p.name)
	if ok, n := s.sample.allow(s.now()); ok {
		s.log.Warn().Str("pool", p.name).Int("suppressed", n).Msg("no free IPv6 address to give")
	}
}

// iaStatus answers ia with no address and a status code (label is its
// metric label).
func (s *Server6) iaStatus(o *outcome6, ia *dhcpv6.OptIANA, code iana.StatusCode, label, why string) {
	o.failed = why
	o.resp.AddOption(&dhcpv6.OptIANA{IaId: ia.IaId, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{
		&dhcpv6.OptStatusCode{StatusCode: code, StatusMessage: why}}}})
	s.m.ia(label)
}

// hint is the first address the client asks for in ia, invalid when none.
func hint(ia *dhcpv6.OptIANA) netip.Addr {
	if a := ia.Options.OneAddress(); a != nil {
		if ip, ok := netip.AddrFromSlice(a.IPv6Addr); ok && ip.Is6() {
			return ip
		}
	}
	return netip.Addr{}
}

// iaWith is an IA_NA giving ip for lease time lt: preferred and valid
// lifetime lt, T1 half of it, T2 four fifths (RFC 8415 §21.4).
func iaWith(id [4]byte, lt time.Duration, ip netip.Addr) *dhcpv6.OptIANA {
	return &dhcpv6.OptIANA{IaId: id, T1: lt / 2, T2: lt * 4 / 5, Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options{
		&dhcpv6.OptIAAddress{IPv6Addr: ip.AsSlice(), PreferredLifetime: lt, ValidLifetime: lt}}}}
}

// errBusy is a commit not tried: too many requests wait for the store.
var errBusy = errors.New("too many requests waiting for the lease store")

// commitWaiting is commit for r: while it waits for the store, r's
// handler slot is free for other requests (the disk, not the CPU, is
// what it waits for), and it takes one of maxCommitWaiters instead; when
// those are all taken the request is dropped as busy.
func (s *Server6) commitWaiting(r *req6, now time.Time, changes []Change) error {
	if !r.slot {
		return s.commit(now, changes)
	}
	select {
	case s.waiting <- struct{}{}:
	default:
		s.m.drop("busy")
		return errBusy
	}
	<-s.sem
	err := s.commit(now, changes)
	s.sem <- struct{}{} // back to building the reply
	<-s.waiting
	return err
}

// commit makes changes durable, counting what fails.
func (s *Server6) commit(now time.Time, changes []Change) error {
	ctx := context.Background()
	if s.health != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, storeTimeout)
		defer cancel()
	}
	err := s.store.Commit(ctx, now, changes...)
	switch {
	case err == nil:
	case errors.Is(err, ErrAddressTaken):
		s.m.conflicts.Inc()
	case errors.Is(err, ErrStoreUnavailable), s.health != nil && errors.Is(err, context.DeadlineExceeded):
		s.m.storeErrors.WithLabelValues("commit").Inc()
		s.m.drop("store_unavailable")
	default:
		s.m.storeErrors.WithLabelValues("commit").Inc()
		s.m.drop("commit_failed")
	}
	return err
}

// storeDown reports whether the shared store is unreachable, counting a
// drop: nothing is offered or bound that could not be committed.
func (s *Server6) storeDown() bool {
	if s.health == nil || s.health.unavailable() == "" {
		return false
	}
	s.m.drop("store_unavailable")
	return true
}
