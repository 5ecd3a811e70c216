package dhcp

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ClientKey identifies a client, in the lease table and in a lease store:
// option 61 when sent (RFC 2132 §9.14, it takes precedence), else the
// hardware address; for DHCPv6, the DUID and IAID of one identity
// association (RFC 8415 §12). It is raw bytes ("c" + client id, "h" +
// MAC, or "d" + DUID + the IAID's four bytes), not text.
type ClientKey string

func keyFor(cid []byte, mac net.HardwareAddr) ClientKey {
	if len(cid) > 0 {
		return ClientKey("c" + string(cid))
	}
	return ClientKey("h" + string(mac))
}

// keyForIA is the key of a DHCPv6 client's identity association.
func keyForIA(duid []byte, iaid uint32) ClientKey {
	return ClientKey("d" + string(duid) + string([]byte{byte(iaid >> 24), byte(iaid >> 16), byte(iaid >> 8), byte(iaid)}))
}

func keyOfLease(l Lease) ClientKey {
	if l.Declined {
		return ""
	}
	if l.DUID != "" {
		if b, err := hex.DecodeString(l.DUID); err == nil {
			return keyForIA(b, l.IAID)
		}
	}
	if l.ClientID != "" {
		if b, err := hex.DecodeString(l.ClientID); err == nil {
			return keyFor(b, nil)
		}
	}
	// Lease.MAC is net.HardwareAddr.String() of chaddr, which has any
	// length up to 16 bytes; net.ParseMAC takes only 6, 8 or 20.
	mac, _ := hex.DecodeString(strings.ReplaceAll(l.MAC, ":", ""))
	return keyFor(nil, mac)
}

type entry struct {
	lease Lease
	key   ClientKey
}

type offerHold struct {
	key   ClientKey
	until time.Time
	pool  *pool // set when the hold counts against the pool's cap (offercap.go)
}

// leaseTable is the in-memory view of all leases and pending offers. Offers
// live only here; leases are also in the lease file.
type leaseTable struct {
	mu       sync.Mutex
	byIP     map[uint32]*entry
	byKey    map[ClientKey]uint32
	offers   map[uint32]offerHold
	offerKey map[ClientKey]uint32
	cursor   map[*pool]uint32
	reserved map[uint32]*host // reserved address -> its host
	caps     offerCaps
	// part of parts: with a store shared by several servers, this
	// server's share of each range (offsets equal to part mod parts),
	// searched first so that servers allocating at once do not pick the
	// same addresses (share.go). parts is 1 otherwise.
	part, parts uint32
}

func newLeaseTable(c *compiled, leases []Lease) *leaseTable {
	t := &leaseTable{byIP: map[uint32]*entry{}, byKey: map[ClientKey]uint32{}, offers: map[uint32]offerHold{}, offerKey: map[ClientKey]uint32{},
		cursor: map[*pool]uint32{}, reserved: map[uint32]*host{}, caps: newOfferCaps(c), parts: 1}
	for _, hs := range []map[string]*host{c.byMAC, c.byCID} {
		for _, h := range hs {
			if h.ip.IsValid() {
				t.reserved[u32(h.ip)] = h
			}
		}
	}
	for _, l := range leases {
		if !l.IP.Is4() {
			continue // a DHCPv6 lease, in a store both servers share
		}
		e := &entry{lease: l, key: keyOfLease(l)}
		ip := u32(l.IP)
		t.byIP[ip] = e
		if old, ok := t.byKey[e.key]; e.key != "" && (!ok || t.byIP[old].lease.Expiry.Before(l.Expiry)) {
			t.byKey[e.key] = ip
		}
	}
	return t
}

// free reports whether ip may be given to client k, which matched
// reservation h (nil for none), at now. Caller holds mu.
func (t *leaseTable) free(k ClientKey, h *host, ip uint32, now time.Time) bool {
	if rh := t.reserved[ip]; rh != nil && rh != h {
		return false
	}
	if e := t.byIP[ip]; e != nil && e.key != k && now.Before(e.lease.Expiry) && (h == nil || t.reserved[ip] != h) {
		// Held by another client, unless the address is this host's
		// reservation: a host keeps it when it changes client id (udhcpc
		// sends none, dhcpcd a DUID).
		return false
	}
	if o, ok := t.offers[ip]; ok && o.key != k && now.Before(o.until) {
		return false
	}
	return true
}

func inRange(p *pool, ip uint32) bool { return ip >= p.first && ip <= p.last }

// pick chooses an address for client k in pool p (RFC 2131 §4.3.1): its
// reservation, its current or last address, the requested one if free, then
// a free one from the range. It holds the address as an offer.
func (t *leaseTable) pick(p *pool, k ClientKey, h *host, requested netip.Addr, now time.Time, hold time.Duration) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ip, ok := t.choose(p, k, h, requested, now)
	if ok {
		t.hold(p, k, h, ip, now, hold)
	}
	return addr(ip), ok
}

func (t *leaseTable) choose(p *pool, k ClientKey, h *host, requested netip.Addr, now time.Time) (uint32, bool) {
	if h != nil && h.ip.IsValid() && p.prefix.Contains(h.ip) {
		ip := u32(h.ip)
		return ip, t.free(k, h, ip, now)
	}
	if ip, ok := t.byKey[k]; ok && inRange(p, ip) && t.free(k, h, ip, now) {
		return ip, true
	}
	if ip, ok := t.offerKey[k]; ok && inRange(p, ip) && t.free(k, h, ip, now) {
		return ip, true
	}
	if requested.IsValid() && requested.Is4() {
		if ip := u32(requested); inRange(p, ip) && t.free(k, h, ip, now) {
			return ip, true
		}
	}
	if p.first > p.last {
		return 0, false
	}
	size := p.last - p.first + 1
	start := t.cursor[p]
	// First this server's part of the range, then all of it.
	for pass := range min(t.parts, 2) {
		for i := uint32(0); i < size; i++ {
			off := (start + i) % size
			if pass == 0 && t.parts > 1 && off%t.parts != t.part {
				continue
			}
			ip := p.first + off
			if t.byIP[ip] == nil || !now.Before(t.byIP[ip].lease.Expiry) {
				if t.free(k, h, ip, now) {
					t.cursor[p] = (off + 1) % size
					return ip, true
				}
			}
		}
	}
	return 0, false
}

// split makes part (of parts) this server's share of every range.
func (t *leaseTable) split(part, parts int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part, t.parts = uint32(part), uint32(max(parts, 1))
}

// allowed reports whether client k may bind ip in pool p: its reservation,
// or a free address of the range.
func (t *leaseTable) allowed(p *pool, k ClientKey, h *host, ip netip.Addr, now time.Time) bool {
	if !ip.Is4() || !p.prefix.Contains(ip) {
		return false
	}
	n := u32(ip)
	if h != nil && h.ip.IsValid() && p.prefix.Contains(h.ip) {
		return h.ip == ip && t.free(k, h, n, now)
	}
	return (inRange(p, n) || t.reserved[n] != nil) && t.free(k, h, n, now)
}

// bind records l for client k if allowed, returning what it changed so
// that unbind can put it back. The caller makes l durable before
// acknowledging it.
//
// A client holds one address: when it binds a new one, its previous lease
// ends now, and moved is that ended lease, to store with l.
func (t *leaseTable) bind(p *pool, k ClientKey, h *host, l Lease, now time.Time) (u *bindUndo, moved []Lease, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.allowed(p, k, h, l.IP, now) {
		return nil, nil, false
	}
	ip := u32(l.IP)
	u = &bindUndo{key: k, ip: ip, prev: t.byIP[ip]}
	u.prevKey, u.hadKey = t.byKey[k]
	if old := u.prevKey; u.hadKey && old != ip {
		if e := t.byIP[old]; e != nil && e.key == k && now.Before(e.lease.Expiry) {
			ended := e.lease
			ended.Expiry = now
			u.old, u.oldEntry, u.ended = old, e, &entry{lease: ended, key: k}
			t.byIP[old] = u.ended
			moved = append(moved, ended)
		}
	}
	u.bound = &entry{lease: l, key: k}
	t.byIP[ip] = u.bound
	t.byKey[k] = ip
	u.takeOffer(t, ip)
	if o, ok := t.offerKey[k]; ok {
		u.takeOffer(t, o) // the client is bound: its other offers are moot
	}
	return u, moved, true
}

// bindUndo is what one bind changed: the entries it replaced, the client's
// byKey, and the offers it dropped with their cap accounting.
type bindUndo struct {
	key             ClientKey
	ip              uint32
	bound, prev     *entry // at ip: bind's entry, and what was there (nil: none)
	prevKey         uint32
	hadKey          bool
	old             uint32 // the client's previous address, when bind ended its lease
	ended, oldEntry *entry // at old: the ended lease, and the active one it replaced
	offers          []takenOffer
}

type takenOffer struct {
	ip      uint32
	hold    offerHold
	indexed bool // offerKey[hold.key] pointed at ip
}

// takeOffer deletes the offer on ip, if any, remembering it. Caller holds
// t.mu.
func (u *bindUndo) takeOffer(t *leaseTable, ip uint32) {
	o, ok := t.offers[ip]
	if !ok {
		return
	}
	cur, indexed := t.offerKey[o.key]
	u.offers = append(u.offers, takenOffer{ip: ip, hold: o, indexed: indexed && cur == ip})
	t.deleteOffer(ip)
}

// unbind undoes bind when the lease could not be made durable, so that the
// client's retry finds the table as it left it. Handlers run concurrently
// while the commit waits for the disk: what another request changed since
// the bind is left alone (an offer made meanwhile on a dropped offer's
// address wins, and that hold is not restored). A restored hold counts
// against its pool's cap again even if other offers reached the cap
// meanwhile: at most two holds over it, until they expire.
func (t *leaseTable) unbind(u *bindUndo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byIP[u.ip] == u.bound {
		if u.prev == nil {
			delete(t.byIP, u.ip)
		} else {
			t.byIP[u.ip] = u.prev
		}
	}
	if cur, ok := t.byKey[u.key]; ok && cur == u.ip {
		if u.hadKey {
			t.byKey[u.key] = u.prevKey
		} else {
			delete(t.byKey, u.key)
		}
	}
	if u.ended != nil && t.byIP[u.old] == u.ended {
		t.byIP[u.old] = u.oldEntry
	}
	for _, o := range u.offers {
		if _, taken := t.offers[o.ip]; taken {
			continue
		}
		t.offers[o.ip] = o.hold
		if o.hold.pool != nil {
			t.caps.held[o.hold.pool]++
		}
		if _, has := t.offerKey[o.hold.key]; o.indexed && !has {
			t.offerKey[o.hold.key] = o.ip
		}
	}
}

// owned returns client k's lease on ip, if it has one (expired or not).
func (t *leaseTable) owned(k ClientKey, ip netip.Addr) (Lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ip.Is4() {
		return Lease{}, false
	}
	e := t.byIP[u32(ip)]
	if e == nil || e.key != k {
		return Lease{}, false
	}
	return e.lease, true
}

// end ends client k's lease on ip at now (RELEASE, RFC 2131 §4.3.4) or
// quarantines the address until quarantine (DECLINE, §4.3.3). It returns
// the record to store.
func (t *leaseTable) end(k ClientKey, ip netip.Addr, now time.Time, quarantine time.Time) (Lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ip.Is4() {
		return Lease{}, false
	}
	n := u32(ip)
	e := t.byIP[n]
	if e == nil || e.key != k {
		// Only the client's own lease: a client declines after the ACK
		// (§4.4.1). Quarantining a mere offer would let DISCOVER+DECLINE
		// from random MACs take the range past offer_hold_percent.
		return Lease{}, false
	}
	t.deleteOffer(n)
	if quarantine.IsZero() {
		l := e.lease
		l.Expiry = now
		t.byIP[n] = &entry{lease: l, key: k}
		return l, true
	}
	l := Lease{IP: ip, Expiry: quarantine, Declined: true}
	t.byIP[n] = &entry{lease: l}
	if t.byKey[k] == n {
		delete(t.byKey, k)
	}
	return l, true
}

// writer returns the server that last wrote client k's lease record (on
// ip when it is valid, else the client's current one) and whether the
// table has such a record.
func (t *leaseTable) writer(k ClientKey, ip netip.Addr) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n uint32
	var ok bool
	switch {
	case ip.Is4():
		n, ok = u32(ip), true
	case !ip.IsValid():
		n, ok = t.byKey[k]
	}
	if !ok {
		return "", false
	}
	e := t.byIP[n]
	if e == nil || e.key != k {
		return "", false
	}
	return e.lease.Server, true
}

// learn puts records that other servers wrote (read from a shared store)
// in place of what the table has on their addresses. A record of the
// same client that expires sooner than the table's is older than the
// table's (a renewal of ours it has not seen) and is left out.
func (t *leaseTable) learn(leases ...Lease) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range leases {
		if !l.IP.Is4() {
			continue
		}
		ip, e := u32(l.IP), &entry{lease: l, key: keyOfLease(l)}
		old := t.byIP[ip]
		if old != nil && old.key == e.key && old.lease.Expiry.After(l.Expiry) {
			continue
		}
		if old != nil && old.key != e.key && t.byKey[old.key] == ip {
			delete(t.byKey, old.key)
		}
		t.byIP[ip] = e
		if e.key == "" {
			continue
		}
		if cur, ok := t.byKey[e.key]; !ok || cur == ip || t.byIP[cur] == nil || t.byIP[cur].key != e.key ||
			!t.byIP[cur].lease.Expiry.After(l.Expiry) {
			t.byKey[e.key] = ip
		}
	}
}

// heldFor reports whether an offer made to client k holds ip at now.
func (t *leaseTable) heldFor(k ClientKey, ip netip.Addr, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ip.Is4() {
		return false
	}
	o, ok := t.offers[u32(ip)]
	return ok && o.key == k && now.Before(o.until)
}

// dropOffer forgets an offer made to k (the client chose another server).
func (t *leaseTable) dropOffer(k ClientKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ip, ok := t.offerKey[k]; ok {
		t.deleteOffer(ip)
	}
}

func (t *leaseTable) deleteOffer(ip uint32) {
	if o, ok := t.offers[ip]; ok {
		t.caps.release(o)
		delete(t.offers, ip)
		if t.offerKey[o.key] == ip {
			delete(t.offerKey, o.key)
		}
	}
}

// snapshot copies all leases, and counts active ones per pool.
func (t *leaseTable) snapshot(pools []*pool, now time.Time) ([]Lease, map[*pool]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Lease, 0, len(t.byIP))
	inUse := map[*pool]int{}
	for _, e := range t.byIP {
		out = append(out, e.lease)
		if e.lease.Declined || !e.lease.Active(now) {
			continue
		}
		for _, p := range pools {
			if p.prefix.Contains(e.lease.IP) {
				inUse[p]++
			}
		}
	}
	return out, inUse
}

// expireOffers drops offers past their hold time so the map stays small.
func (t *leaseTable) expireOffers(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ip, o := range t.offers {
		if !now.Before(o.until) {
			t.deleteOffer(ip)
		}
	}
}

// forget drops the lease records that ended before before (the store has
// deleted them: purge).
func (t *leaseTable) forget(before time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ip, e := range t.byIP {
		if !e.lease.Expiry.Before(before) {
			continue
		}
		delete(t.byIP, ip)
		if e.key != "" && t.byKey[e.key] == ip {
			delete(t.byKey, e.key)
		}
	}
}
