package dhcp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"

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
