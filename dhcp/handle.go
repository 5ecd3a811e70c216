package dhcp

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rs/zerolog"
)

// handlePacket parses one datagram, answers it and sends the reply, all
// before it returns.
func (s *Server) handlePacket(conn net.PacketConn, peer net.Addr, b []byte) {
	s.answerNow(s.newOutbox(conn), s.newWork(peer, b))
}

// answerNow answers w and sends the reply before it returns: no commit is
// queued.
func (s *Server) answerNow(out *outbox, w *work) {
	if s.decode(w) && s.answer(w, out, nil) {
		out.flush()
		return
	}
	s.release(w)
}

// decode decodes w's datagram into w.req and says whether it is a request
// the server can read (a BOOTREQUEST with a hardware address), counting
// and logging (sampled) what it drops.
func (s *Server) decode(w *work) bool {
	err := decodeInto(&w.req, w.in)
	if err != nil || w.req.OpCode != dhcpv4.OpcodeBootRequest || len(w.req.ClientHWAddr) == 0 {
		s.m.drop("malformed")
		if ok, n := s.sample.allow(s.now()); ok {
			s.log.Warn().Str("peer", w.peer.String()).Int("bytes", len(w.in)).Err(err).
				Int("suppressed", n).Msg("malformed dhcp packet dropped")
		}
		return false
	}
	return true
}

// answer answers w.req, decoded by decode. A reply that is ready goes on
// out; with acks set, a REQUEST's lease is committed in the background
// and its ACK goes on acks once the commit is done (commitThen),
// otherwise the commit is waited for here. It returns whether it kept w
// (queued on out, or waiting for its commit); a work it did not keep is
// the caller's again.
func (s *Server) answer(w *work, out, acks *outbox) (kept bool) {
	defer func() {
		if r := recover(); r != nil {
			s.m.drop("panic")
			s.log.Error().Interface("panic", r).Msg("dhcp handler panic")
			kept = false
		}
	}()
	req := &w.req
	mt := msgType(req)
	s.m.messages.WithLabelValues(typeName(mt)).Inc()
	var mac [16 * 3]byte
	var xid [10]byte
	log := s.log.With().Bytes("mac", appendMAC(mac[:0], req.ClientHWAddr)).
		Bytes("xid", appendXID(xid[:0], req.TransactionID)).Logger()
	if !s.admit(req, mt, log) {
		return false
	}
	facts := factsOf(req)
	s.recordIn(req, mt, facts)
	if s.comp().proxy {
		return s.answerProxy(w, mt, facts, log, out)
	}
	var resp *dhcpv4.DHCPv4
	var decided string
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		resp, decided = s.discover(req, log)
	case dhcpv4.MessageTypeRequest:
		if acks != nil {
			return s.requestThen(w, facts, log, out, acks)
		}
		resp, decided = s.request(req, log)
	case dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeRelease:
		s.endLease(req, mt, log)
	case dhcpv4.MessageTypeInform:
		resp, decided = s.inform(req)
	default:
		s.m.drop("unexpected_type")
	}
	if resp == nil {
		return false
	}
	w.reply(resp, s.replyDst(req, resp), facts, decided, log)
	out.add(w)
	return true
}

// requestThen is request with the commit in the background: a NAK goes
// on out at once; a lease to commit goes to commitThen, which keeps w.
func (s *Server) requestThen(w *work, facts clientFacts, log zerolog.Logger, out, acks *outbox) bool {
	if !s.tryHandler() {
		return false
	}
	queued := false
	defer func() {
		if !queued {
			s.handlerDone()
		}
	}()
	b, nak := s.binding(&w.req, log)
	if b == nil {
		if nak == nil {
			return false
		}
		w.reply(nak, s.replyDst(&w.req, nak), facts, "", log)
		out.add(w)
		return true
	}
	queued = true
	s.commitThen(w, b, facts, log, acks)
	return true
}

// commitThen queues b's commit and returns: once it is done, on the
// store's committer goroutine, the REQUEST in w gets its answer (bound),
// which goes out on acks with the other ACKs of that transaction. w holds
// a place in max_handlers (tryHandler) until then.
func (s *Server) commitThen(w *work, b *binding, facts clientFacts, log zerolog.Logger, acks *outbox) {
	w.pending = true
	s.store.(asyncStore).commitThen(b.now, b.changes, func(err error) {
		defer func() {
			if r := recover(); r != nil {
				s.m.drop("panic")
				s.log.Error().Interface("panic", r).Msg("dhcp handler panic")
				s.release(w)
			}
		}()
		s.countCommit(err)
		resp, decided := s.bound(&w.req, b, err, log)
		if resp == nil {
			s.release(w)
			return
		}
		w.reply(resp, s.replyDst(&w.req, resp), facts, decided, log)
		acks.add(w)
	}, acks)
}

// asyncStore is a LeaseStore that can commit without a goroutine waiting
// (see groupCommitter.commitThen).
type asyncStore interface {
	commitThen(now time.Time, changes []Change, then func(error), after afterBatch)
}

// tryHandler takes a place in max_handlers, or counts a busy drop.
func (s *Server) tryHandler() bool {
	select {
	case s.sem <- struct{}{}:
		s.running.Add(1)
		return true
	default:
		s.m.drop("busy")
		return false
	}
}

// handlerDone gives back a place tryHandler took.
func (s *Server) handlerDone() {
	<-s.sem
	s.running.Done()
}

// replyDst is where resp, answering req, goes (replyAddr; tests redirect).
func (s *Server) replyDst(req, resp *dhcpv4.DHCPv4) *net.UDPAddr {
	dst := replyAddr(req, resp, s.bcast, s.relayPort, s.clientPort)
	if s.redirect != nil {
		dst = s.redirect(dst)
	}
	return dst
}

func typeName(mt dhcpv4.MessageType) string {
	switch mt {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeOffer, dhcpv4.MessageTypeRequest,
		dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak,
		dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeInform:
		return strings.ToLower(mt.String())
	case dhcpv4.MessageTypeNone:
		return "bootp"
	}
	return "other"
}

// replyAddr is where a reply goes, RFC 2131 §4.1: to the relay's server
// port when giaddr is set; NAKs broadcast; to ciaddr when the client has an
// address; else broadcast on the bound interface. (Unicast to yiaddr would
// need an ARP entry for a client without an address, which a UDP socket
// cannot add; §4.1 allows the broadcast.)
func replyAddr(req, resp *dhcpv4.DHCPv4, bcast netip.Addr, relayPort, clientPort int) *net.UDPAddr {
	if gi := req.GatewayIPAddr.To4(); gi != nil && !gi.IsUnspecified() {
		return &net.UDPAddr{IP: gi, Port: relayPort}
	}
	if msgType(resp) != dhcpv4.MessageTypeNak {
		if ci := req.ClientIPAddr.To4(); ci != nil && !ci.IsUnspecified() {
			return &net.UDPAddr{IP: ci, Port: clientPort}
		}
	}
	return &net.UDPAddr{IP: bcast.AsSlice(), Port: clientPort}
}

// network is the pool serving the client's segment: the relay's subnet for
// relayed requests (RFC 2131 §4.3.1), else the server's own subnet.
func (s *Server) network(req *dhcpv4.DHCPv4) *pool {
	if gi, ok := netip.AddrFromSlice(req.GatewayIPAddr.To4()); ok && req.GatewayIPAddr.To4() != nil && !gi.IsUnspecified() {
		return s.comp().poolFor(gi)
	}
	return s.comp().poolFor(s.serverIP)
}

func clientID(req *dhcpv4.DHCPv4) []byte { return req.Options.Get(dhcpv4.OptionClientIdentifier) }

func (s *Server) client(req *dhcpv4.DHCPv4) (ClientKey, *host) {
	cid := clientID(req)
	k := keyFor(cid, req.ClientHWAddr)
	if len(cid) > 0 {
		if h := s.comp().byCID[string(cid)]; h != nil {
			return k, h
		}
	}
	return k, s.comp().byMAC[req.ClientHWAddr.String()]
}

func ipOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || ip.To4() == nil || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// discover answers DHCPDISCOVER with an offer held in memory (§4.3.1).
func (s *Server) discover(req *dhcpv4.DHCPv4, log zerolog.Logger) (*dhcpv4.DHCPv4, string) {
	p := s.network(req)
	if p == nil {
		s.m.drop("no_pool")
		return nil, ""
	}
	k, h := s.client(req)
	if s.storeDown() || !s.answers(k, netip.Addr{}) {
		return nil, ""
	}
	ip, ok := s.table.pick(p, k, h, ipOf(req.RequestedIPAddress()), s.now(), s.comp().cfg.OfferTime)
	if !ok {
		s.m.drop("pool_exhausted")
		if ok, n := s.sample.allow(s.now()); ok {
			log.Warn().Str("pool", p.name).Int("suppressed", n).Msg("no free address to offer")
		}
		return nil, ""
	}
	if e := log.Debug(); e.Enabled() {
		e.Str("ip", ip.String()).Msg("offer")
	}
	s.safety.limit.offered(k, ip, s.now())
	return s.reply(req, dhcpv4.MessageTypeOffer, p, h, ip)
}

// request answers DHCPREQUEST in its four states (§4.3.2). The lease is on
// disk before the ACK is built; when that fails no ACK is sent.
func (s *Server) request(req *dhcpv4.DHCPv4, log zerolog.Logger) (*dhcpv4.DHCPv4, string) {
	b, resp := s.binding(req, log)
	if b == nil {
		return resp, ""
	}
	return s.bound(req, b, s.commit(b.now, b.changes), log)
}

// binding is the lease a REQUEST gets once it is committed: bound in the
// lease table already, its Changes to commit, and how to take it back.
type binding struct {
	p       *pool
	h       *host
	ip      netip.Addr
	state   string
	now     time.Time
	changes []Change
	undo    *bindUndo
}

// binding decides what a DHCPREQUEST gets, short of the commit: a binding
// to commit, or else the answer (a NAK, or nil for silence).
func (s *Server) binding(req *dhcpv4.DHCPv4, log zerolog.Logger) (*binding, *dhcpv4.DHCPv4) {
	k, h := s.client(req)
	sid := ipOf(req.ServerIdentifier())
	ciaddr := ipOf(req.ClientIPAddr)
	var ip netip.Addr
	var p *pool
	state := "selecting"
	switch {
	case sid.IsValid():
		if sid != s.serverIP {
			s.table.dropOffer(k) // the client chose another server
			s.m.drop("other_server")
			s.otherServerRequest(sid, log)
			return nil, nil
		}
		ip, p = ipOf(req.RequestedIPAddress()), s.network(req)
		if !ip.IsValid() {
			ip = ciaddr
		}
	case !ciaddr.IsValid():
		state = "init-reboot"
		ip, p = ipOf(req.RequestedIPAddress()), s.network(req)
	default:
		// RENEWING is unicast from the client, REBINDING broadcast; both
		// carry the address in ciaddr and no server id.
		state = "renewing"
		ip, p = ciaddr, s.comp().poolFor(ciaddr)
		if s.network(req) != nil && ipOf(req.GatewayIPAddr).IsValid() && s.network(req) != p {
			p = nil
		}
	}
	if !ip.IsValid() {
		s.m.drop("malformed")
		return nil, nil
	}
	if s.storeDown() || (state != "selecting" && !s.answers(k, ip)) {
		return nil, nil
	}
	if p == nil || !p.prefix.Contains(ip) {
		return nil, s.refuse(req, state, ip, "wrong network", log)
	}
	// Only a client that went through DISCOVER may bind: granting any
	// free address would let a flood of REQUESTs from random MACs take the
	// pool past the held-offer cap and the DISCOVER rate.
	now := s.now()
	if state == "selecting" && !s.offeredTo(k, h, ip, now) {
		// §4.3.2: the requested address must be our OFFER's yiaddr. The
		// client named us, so it gets a NAK even from a non-authoritative
		// server, and starts over at once.
		return nil, s.refuse(req, state, ip, "not offered to this client", log)
	}
	if state != "selecting" && !s.knows(k, h, ip) {
		// INIT-REBOOT, RENEWING, REBINDING (§4.3.2): a server with no
		// record of this client's lease stays silent (or, authoritative,
		// NAKs so it rediscovers at once).
		return nil, s.refuse(req, state, ip, "no record of this client", log)
	}
	l := Lease{IP: ip, MAC: req.ClientHWAddr.String(), Hostname: req.HostName(), Expiry: now.Add(p.leaseTime), Server: s.serverID()}
	if cid := clientID(req); len(cid) > 0 {
		l.ClientID = hex.EncodeToString(cid)
	}
	if h != nil && h.hostname != "" {
		l.Hostname = h.hostname
	}
	undo, moved, ok := s.table.bind(p, k, h, l, now)
	if !ok {
		return nil, s.refuse(req, state, ip, "address not available", log)
	}
	changes := []Change{{Lease: l, Client: k, Reserved: h != nil && h.ip == ip}}
	for _, m := range moved {
		m.Server = l.Server
		changes = append(changes, Change{Lease: m, Client: k, Ending: true})
	}
	return &binding{p: p, h: h, ip: ip, state: state, now: now, changes: changes, undo: undo}, nil
}

// bound answers the REQUEST that led to b once its commit has ended with
// err (see commit): the ACK, a NAK when another server's client got the
// address first, or nil when the lease could not be committed.
func (s *Server) bound(req *dhcpv4.DHCPv4, b *binding, err error, log zerolog.Logger) (*dhcpv4.DHCPv4, string) {
	if err != nil {
		s.table.unbind(b.undo)
		if te := (*TakenError)(nil); errors.As(err, &te) {
			// Another server's client got the address first; the
			// database decided (share.go).
			s.table.learn(te.Holder)
			return s.refuse(req, b.state, b.ip, "address taken by another server's client", log), ""
		}
		log.Error().Err(err).Str("ip", b.ip.String()).Msg("lease not committed; no ACK sent")
		return nil, ""
	}
	s.noteArch(b.ip, req)
	if e := log.Debug(); e.Enabled() {
		e.Str("ip", b.ip.String()).Str("state", b.state).Msg("ack")
	}
	return s.reply(req, dhcpv4.MessageTypeAck, b.p, b.h, b.ip)
}

// offerValid is how long after an OFFER its client's SELECTING REQUEST
// may still bind the address, as a multiple of offer_time. The hold ends
// after one offer_time (or was never made, past offer_hold_percent); a
// slow client whose hold ended still gets the address for another
// offer_time if nobody took it meanwhile (bind checks it is free).
const offerValid = 2

// offeredTo reports whether a SELECTING REQUEST from client k may bind ip:
// our OFFER to k named ip (its hold runs, or it is k's last OFFER and
// younger than offerValid offer_times), ip is k's reservation, or k has a
// lease record on ip (a REQUEST retransmitted after its ACK).
func (s *Server) offeredTo(k ClientKey, h *host, ip netip.Addr, now time.Time) bool {
	if s.knows(k, h, ip) || s.table.heldFor(k, ip, now) {
		return true
	}
	last, at := s.safety.limit.lastOffer(k)
	return last == ip && now.Sub(at) < offerValid*s.comp().cfg.OfferTime
}

// knows reports whether the server has a record of client k on ip: its
// lease (current or expired) or its reservation.
func (s *Server) knows(k ClientKey, h *host, ip netip.Addr) bool {
	if h != nil && h.ip == ip {
		return true
	}
	_, ok := s.table.owned(k, ip)
	return ok
}

// refuse NAKs a request we cannot grant. In SELECTING the client asked us
// by server id, so we always answer; otherwise a non-authoritative server
// stays silent (§4.3.2: no record of this client -> remain silent).
func (s *Server) refuse(req *dhcpv4.DHCPv4, state string, ip netip.Addr, why string, log zerolog.Logger) *dhcpv4.DHCPv4 {
	if state != "selecting" && !s.comp().cfg.Authoritative {
		s.m.drop("not_authoritative")
		return nil
	}
	log.Info().Str("ip", ip.String()).Str("state", state).Str("reason", why).Msg("nak")
	return s.nak(req, why)
}

// endLease handles DHCPRELEASE (§4.3.4) and DHCPDECLINE (§4.3.3).
func (s *Server) endLease(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, log zerolog.Logger) {
	if sid := ipOf(req.ServerIdentifier()); sid.IsValid() && sid != s.serverIP {
		s.m.drop("other_server")
		return
	}
	k, _ := s.client(req)
	now := s.now()
	ip, quarantine := ipOf(req.ClientIPAddr), time.Time{}
	if mt == dhcpv4.MessageTypeDecline {
		ip, quarantine = ipOf(req.RequestedIPAddress()), now.Add(s.comp().cfg.DeclineTime)
	}
	l, ok := s.table.end(k, ip, now, quarantine)
	if !ok {
		s.m.drop("unknown_lease")
		return
	}
	l.Server = s.serverID()
	if err := s.commit(now, []Change{{Lease: l, Client: k, Ending: true}}); err != nil {
		log.Error().Err(err).Str("ip", ip.String()).Msg("lease end not committed")
		return
	}
	log.Info().Str("ip", ip.String()).Str("type", typeName(mt)).Msg("lease ended")
}

// inform answers DHCPINFORM with configuration only (§4.3.5).
func (s *Server) inform(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, string) {
	ciaddr := ipOf(req.ClientIPAddr)
	p := s.network(req)
	if ciaddr.IsValid() && !ipOf(req.GatewayIPAddr).IsValid() {
		p = s.comp().poolFor(ciaddr)
	}
	if p == nil {
		s.m.drop("no_pool")
		return nil, ""
	}
	k, h := s.client(req)
	if !s.answers(k, ciaddr) {
		return nil, ""
	}
	return s.reply(req, dhcpv4.MessageTypeAck, p, h, netip.Addr{})
}
