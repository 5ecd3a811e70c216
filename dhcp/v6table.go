package dhcp

import (
	"net/netip"
	"sync"
	"time"
)

// table6 is the DHCPv6 server's in-memory view of its leases (one per
// identity association, keyed by DUID and IAID) and of the addresses its
// ADVERTISEs hold. Offers live only here; leases are also in the store.
// Ranges may hold 2^64 addresses, so nothing is indexed by range offset:
// allocation walks on from a per-pool cursor past addresses in use, which
// are few next to a range that size.
type table6 struct {
	mu       sync.Mutex
	byIP     map[netip.Addr]*entry
	byKey    map[ClientKey]netip.Addr
	offers   map[netip.Addr]offerHold
	offerKey map[ClientKey]netip.Addr
	cursor   map[string]netip.Addr // pool name -> where the next search starts
	reserved map[netip.Addr]*host6
}

func newTable6(c *compiled6, leases []Lease) *table6 {
	t := &table6{byIP: map[netip.Addr]*entry{}, byKey: map[ClientKey]netip.Addr{}, offers: map[netip.Addr]offerHold{},
		offerKey: map[ClientKey]netip.Addr{}, cursor: map[string]netip.Addr{}}
	t.reserve(c)
	for _, l := range leases {
		if !l.IP.Is6() || l.IP.Is4In6() {
			continue // a DHCPv4 lease, in a store both servers share
		}
		e := &entry{lease: l, key: keyOfLease(l)}
		t.byIP[l.IP] = e
		if old, ok := t.byKey[e.key]; e.key != "" && (!ok || t.byIP[old].lease.Expiry.Before(l.Expiry)) {
			t.byKey[e.key] = l.IP
		}
	}
	return t
}

// reserve takes the reservations of c. Caller holds mu, or owns t.
func (t *table6) reserve(c *compiled6) {
	t.reserved = map[netip.Addr]*host6{}
	for _, hs := range []map[string]*host6{c.byDUID, c.byMAC} {
		for _, h := range hs {
			if h.ip.IsValid() {
				t.reserved[h.ip] = h
			}
		}
	}
}

// free reports whether ip may be given to client k, which matched
// reservation h (nil for none), at now. Caller holds mu.
func (t *table6) free(k ClientKey, h *host6, ip netip.Addr, now time.Time) bool {
	rh := t.reserved[ip]
	if rh != nil && rh != h {
		return false
	}
	if e := t.byIP[ip]; e != nil && e.key != k && now.Before(e.lease.Expiry) && (h == nil || rh != h) {
		return false
	}
	if o, ok := t.offers[ip]; ok && o.key != k && now.Before(o.until) {
		return false
	}
	return true
}

func inRange6(p *pool6, ip netip.Addr) bool {
	return p.first.IsValid() && !ip.Less(p.first) && !p.last.Less(ip)
}

// choose picks an address for client k in pool p (RFC 8415 §18.3.1): its
// reservation, its current or last address, the address it last got
// offered, the one it hints at if free, then the next free one of the
// range. ok is false when there is none. Caller holds mu.
func (t *table6) choose(p *pool6, k ClientKey, h *host6, hint netip.Addr, now time.Time) (netip.Addr, bool) {
	if h != nil && h.ip.IsValid() && p.prefix.Contains(h.ip) {
		return h.ip, t.free(k, h, h.ip, now)
	}
	for _, ip := range []netip.Addr{t.byKey[k], t.offerKey[k], hint} {
		if ip.IsValid() && inRange6(p, ip) && t.free(k, h, ip, now) {
			return ip, true
		}
	}
	if !p.first.IsValid() {
		return netip.Addr{}, false
	}
	start := t.cursor[p.name]
	if !inRange6(p, start) {
		start = p.first
	}
	// Every address passed over is in byIP, offers or reserved: the walk
	// ends within that many steps, or when it is back at start.
	limit := len(t.byIP) + len(t.offers) + len(t.reserved) + 1
	ip := start
	for range limit {
		if t.free(k, h, ip, now) {
			t.cursor[p.name] = ip.Next()
			return ip, true
		}
		if ip = ip.Next(); !ip.IsValid() || p.last.Less(ip) {
			ip = p.first
		}
		if ip == start {
			break
		}
	}
	return netip.Addr{}, false
}

// pick chooses an address for k in p and holds it as an offer until
// now+hold.
func (t *table6) pick(p *pool6, k ClientKey, h *host6, hint netip.Addr, now time.Time, hold time.Duration) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ip, ok := t.choose(p, k, h, hint, now)
	if ok {
		if old, had := t.offerKey[k]; had && old != ip {
			delete(t.offers, old)
		}
		t.offers[ip] = offerHold{key: k, until: now.Add(hold)}
		t.offerKey[k] = ip
	}
	return ip, ok
}

// preview is what pick would choose, without holding it or moving the
// cursor.
func (t *table6) preview(p *pool6, k ClientKey, h *host6, now time.Time) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cursor, had := t.cursor[p.name]
	ip, ok := t.choose(p, k, h, netip.Addr{}, now)
	if had {
		t.cursor[p.name] = cursor
	} else {
		delete(t.cursor, p.name)
	}
	return ip, ok
}

// current is client k's lease (active or not) and whether it has one.
func (t *table6) current(k ClientKey) (Lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ip, ok := t.byKey[k]
	if !ok {
		return Lease{}, false
	}
	e := t.byIP[ip]
	if e == nil || e.key != k {
		return Lease{}, false
	}
	return e.lease, true
}

// offered is the address advertised to k whose hold runs at now.
func (t *table6) offered(k ClientKey, now time.Time) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ip, ok := t.offerKey[k]
	if !ok {
		return netip.Addr{}, false
	}
	o := t.offers[ip]
	return ip, o.key == k && now.Before(o.until)
}

// bind6Undo is what one bind changed, for unbind.
type bind6Undo struct {
	key         ClientKey
	ip          netip.Addr
	bound, prev *entry
	prevKey     netip.Addr
	hadKey      bool
	old         netip.Addr // the client's previous address, when bind ended its lease
	ended, was  *entry     // at old: the ended lease, and the active one it replaced
	offer       *offerHold // the client's offer bind took, if any
	offerIP     netip.Addr
}

// bind records l for k if ip is allowed to k (its reservation, or free
// and in the pool's range), returning what changed and the lease k held
// on another address, ended now (moved: to store with l).
func (t *table6) bind(p *pool6, k ClientKey, h *host6, l Lease, now time.Time) (*bind6Undo, []Lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ip := l.IP
	ok := p.prefix.Contains(ip) && t.free(k, h, ip, now)
	if h != nil && h.ip.IsValid() && p.prefix.Contains(h.ip) {
		ok = ok && ip == h.ip
	} else {
		ok = ok && (inRange6(p, ip) || t.reserved[ip] != nil)
	}
	if !ok {
		return nil, nil, false
	}
	u := &bind6Undo{key: k, ip: ip, prev: t.byIP[ip]}
	u.prevKey, u.hadKey = t.byKey[k]
	var moved []Lease
	if old := u.prevKey; u.hadKey && old != ip {
		if e := t.byIP[old]; e != nil && e.key == k && now.Before(e.lease.Expiry) {
			ended := e.lease
			ended.Expiry = now
			u.old, u.was, u.ended = old, e, &entry{lease: ended, key: k}
			t.byIP[old] = u.ended
			moved = append(moved, ended)
		}
	}
	u.bound = &entry{lease: l, key: k}
	t.byIP[ip] = u.bound
	t.byKey[k] = ip
	if oip, had := t.offerKey[k]; had {
		o := t.offers[oip]
		u.offer, u.offerIP = &o, oip
		delete(t.offers, oip)
		delete(t.offerKey, k)
	}
	return u, moved, true
}

// unbind undoes bind when the lease could not be made durable; what
// other requests changed meanwhile is left alone.
func (t *table6) unbind(u *bind6Undo) {
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
		t.byIP[u.old] = u.was
	}
	if u.offer != nil {
		if _, taken := t.offers[u.offerIP]; !taken {
			t.offers[u.offerIP] = *u.offer
			if _, has := t.offerKey[u.key]; !has {
				t.offerKey[u.key] = u.offerIP
			}
		}
	}
}

// end ends k's lease on ip at now (RELEASE, RFC 8415 §18.3.7), or
// quarantines the address until quarantine (DECLINE, §18.3.8). It returns
// the record to store; ok is false when k holds no lease on ip.
func (t *table6) end(k ClientKey, ip netip.Addr, now, quarantine time.Time) (Lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byIP[ip]
	if e == nil || e.key != k {
		return Lease{}, false
	}
	if quarantine.IsZero() {
		l := e.lease
		l.Expiry = now
		t.byIP[ip] = &entry{lease: l, key: k}
		return l, true
	}
	l := Lease{IP: ip, Expiry: quarantine, Declined: true}
	t.byIP[ip] = &entry{lease: l}
	if t.byKey[k] == ip {
		delete(t.byKey, k)
	}
	return l, true
}

// active is the unexpired, undeclined lease on ip.
func (t *table6) active(ip netip.Addr, now time.Time) (Lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byIP[ip.WithZone("")]
	if e == nil || e.lease.Declined || !e.lease.Active(now) {
		return Lease{}, false
	}
	return e.lease, true
}

// bound reports whether client k holds an active lease (any IA of a
// DUID: k is the DUID's client key, so this looks at k itself only).
func (t *table6) bound(k ClientKey, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ip, ok := t.byKey[k]
	if !ok {
		return false
	}
	e := t.byIP[ip]
	return e != nil && e.key == k && now.Before(e.lease.Expiry)
}

// snapshot copies all leases, and counts active ones and held offers per
// pool.
func (t *table6) snapshot(pools []*pool6, now time.Time) (leases []Lease, inUse, held map[*pool6]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	leases = make([]Lease, 0, len(t.byIP))
	inUse, held = map[*pool6]int{}, map[*pool6]int{}
	for _, e := range t.byIP {
		leases = append(leases, e.lease)
		if e.lease.Declined || !e.lease.Active(now) {
			continue
		}
		for _, p := range pools {
			if p.prefix.Contains(e.lease.IP) {
				inUse[p]++
			}
		}
	}
	for ip, o := range t.offers {
		for _, p := range pools {
			if now.Before(o.until) && inRange6(p, ip) {
				held[p]++
			}
		}
	}
	return leases, inUse, held
}

// expireOffers drops offers past their hold time.
func (t *table6) expireOffers(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ip, o := range t.offers {
		if !now.Before(o.until) {
			delete(t.offers, ip)
			if t.offerKey[o.key] == ip {
				delete(t.offerKey, o.key)
			}
		}
	}
}

// learn puts a record another server wrote (the holder a shared store
// named when it refused a commit) in place of what the table has on its
// address, so the address is not offered again while that lease runs. A
// holder of unknown expiry is taken to hold it until until.
func (t *table6) learn(l Lease, until time.Time) {
	if !l.IP.Is6() || l.IP.Is4In6() {
		return
	}
	if l.Expiry.IsZero() {
		l.Expiry = until
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.byIP[l.IP]; old != nil && t.byKey[old.key] == l.IP {
		delete(t.byKey, old.key)
	}
	e := &entry{lease: l, key: keyOfLease(l)}
	t.byIP[l.IP] = e
	if e.key != "" {
		t.byKey[e.key] = l.IP
	}
}

// reconfigure takes the reservations of c; cursors of pools gone are
// forgotten.
func (t *table6) reconfigure(c *compiled6) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reserve(c)
	names := map[string]bool{}
	for _, p := range c.pools {
		names[p.name] = true
	}
	for n := range t.cursor {
		if !names[n] {
			delete(t.cursor, n)
		}
	}
}
