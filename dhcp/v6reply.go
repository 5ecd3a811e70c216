package dhcp

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// solicit answers SOLICIT (RFC 8415 §18.3.1): an ADVERTISE holding an
// address per IA_NA, or, with rapid commit on and asked for, a REPLY that
// binds them.
func (s *Server6) solicit(r *req6) outcome6 {
	p := s.bindingPool(r)
	if p == nil {
		return outcome6{}
	}
	c := s.comp()
	rapid := c.cfg.RapidCommit && r.msg.GetOneOption(dhcpv6.OptionRapidCommit) != nil
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

// bindingPool is the pool a message that may bind addresses draws from,
// or nil, and the message is dropped, when r's link has none (counted as
// no_pool) or the lease store is down (storeDown counts it).
func (s *Server6) bindingPool(r *req6) *pool6 {
	p := s.network(r)
	if p == nil {
		s.m.drop("no_pool")
		return nil
	}
	if s.storeDown() {
		return nil
	}
	return p
}

// request answers REQUEST (RFC 8415 §18.3.2): each IA_NA is bound, its
// lease durable before the REPLY, to the address advertised to it (or its
// current one, or a free one if the advertisement was lost).
func (s *Server6) request(r *req6) outcome6 {
	p := s.bindingPool(r)
	if p == nil {
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
	p := s.bindingPool(r)
	if p == nil {
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
