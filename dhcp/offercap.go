package dhcp

import "time"

// offerCaps bounds how much of each pool's dynamic range offers may hold.
//
// An offer holds its address for offer_time so that two clients are not
// offered the same one. Without a bound, a flood of DHCPDISCOVERs from
// random MACs (yersinia, dhcpstarv) holds every free address and real
// clients get no offer although nothing is leased. Past the cap, offers are
// still made, of an address that is neither leased nor held, but without
// holding it: the first DHCPREQUEST for it wins and a client that loses
// gets a DHCPNAK and starts over (RFC 2131 §4.3.1 does not require a server
// to reserve offered addresses; Kea and dnsmasq never do). So a flood of
// DISCOVERs can hold at most offer_hold_percent of a range, and any client
// that completes its exchange can still lease the rest.
type offerCaps struct {
	percent   int
	held      map[*pool]int
	unheld    uint64 // offers made without a hold because the cap was reached
	lastSweep time.Time
}

func newOfferCaps(c *compiled) offerCaps {
	return offerCaps{percent: c.cfg.OfferHoldPercent, held: map[*pool]int{}}
}

// limit is how many addresses of p's range offers may hold at once.
func (oc *offerCaps) limit(p *pool) int {
	if p.first > p.last {
		return 0
	}
	return int(uint64(p.last-p.first+1) * uint64(oc.percent) / 100)
}

func (oc *offerCaps) release(o offerHold) {
	if o.pool != nil {
		oc.held[o.pool]--
	}
}

// hold records an offer of ip to client k for d, if p's cap allows. Offers
// of reserved addresses and of addresses outside the range are not capped:
// nobody else may take those anyway. Caller holds t.mu.
func (t *leaseTable) hold(p *pool, k ClientKey, h *host, ip uint32, now time.Time, d time.Duration) {
	t.deleteOffer(ip) // a refresh, or an expired hold of another client
	o := offerHold{key: k, until: now.Add(d)}
	if inRange(p, ip) && (h == nil || !h.ip.IsValid() || u32(h.ip) != ip) {
		if t.caps.held[p] >= t.caps.limit(p) {
			t.sweepOffers(now)
		}
		if t.caps.held[p] >= t.caps.limit(p) {
			t.caps.unheld++
			return
		}
		o.pool = p
		t.caps.held[p]++
	}
	t.offers[ip] = o
	t.offerKey[k] = ip
}

// sweepOffers drops expired offers, at most once a second (a flood keeps
// the cap reached, and each sweep walks all offers). Caller holds t.mu.
func (t *leaseTable) sweepOffers(now time.Time) {
	if now.Sub(t.caps.lastSweep) < time.Second && !now.Before(t.caps.lastSweep) {
		return
	}
	t.caps.lastSweep = now
	for ip, o := range t.offers {
		if !now.Before(o.until) {
			t.deleteOffer(ip)
		}
	}
}

// heldOffers reports the addresses held by capped offers per pool, and how
// many offers were made without a hold.
func (t *leaseTable) heldOffers() (map[*pool]int, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[*pool]int, len(t.caps.held))
	for p, n := range t.caps.held {
		out[p] = n
	}
	return out, t.caps.unheld
}
