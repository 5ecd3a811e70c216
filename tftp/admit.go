package tftp

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// admission decides which requests become transfers and keeps count of
// them: max_transfers in all, max_transfers_per_ip per client address, and
// max_unverified_per_ip of those whose peer has not answered yet.
//
// A UDP request's source address is not verified: anyone can send an RRQ
// in a victim's name. Until the peer answers from that address (ACK of the
// OACK or of block 1, or an upload's first DATA), a transfer is unverified
// and cheap: no buffer, the server's own timeout, few retransmissions. The
// per-address caps keep one address, forged or not, from taking every slot
// or aiming more than a handful of transfers at one victim.
//
// When every slot is taken, a new request evicts the oldest unverified
// transfer instead of being refused, as a SYN queue drops its oldest
// half-open entries: a forged flood then only churns unverified slots,
// while a real client, which answers within a round trip, becomes verified
// long before its turn to be evicted comes. Verified transfers are never
// evicted.
//
// A client address is counted exactly, an IPv6 link-local one with its
// zone, never by IPv6 /64: the machines of a boot segment share its /64,
// and a per-prefix cap would throttle a rack that boots at once. A client
// using many addresses of its /64 thereby gets the per-address caps once
// per address, which a forger, free to write any source address, has
// anyway.
type admission struct {
	m *metrics

	mu            sync.Mutex
	maxTotal      int
	maxPerIP      int // <= 0: no cap
	maxUnverified int // <= 0: no cap
	total         int
	perIP         map[netip.Addr]ipLoad // only addresses with transfers running
	waiting       list.List             // unverified *slot, oldest first
}

type ipLoad struct{ transfers, unverified int }

// slot is one admitted transfer's place in the counts.
type slot struct {
	ip      netip.Addr
	elem    *list.Element // in waiting while unverified; nil once verified or gone
	conn    *net.UDPConn  // the transfer's socket once open, to wake it on eviction
	gone    bool          // evicted or left: no longer counted
	evicted atomic.Bool
}

func newAdmission(cfg Config, m *metrics) *admission {
	a := &admission{m: m, perIP: map[netip.Addr]ipLoad{}}
	a.setLimits(cfg)
	return a
}

// setLimits applies the caps of cfg to requests from now on; transfers
// already admitted stay, even over a lowered cap.
func (a *admission) setLimits(cfg Config) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.maxTotal, a.maxPerIP, a.maxUnverified = cfg.MaxTransfers, cfg.MaxTransfersPerIP, cfg.MaxUnverifiedPerIP
}

// admit counts a new, unverified transfer from ip, or says why not.
func (a *admission) admit(ip netip.Addr) (*slot, *refusal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.perIP[ip]
	switch {
	case a.maxPerIP > 0 && l.transfers >= a.maxPerIP:
		return nil, errIPLimit
	case a.maxUnverified > 0 && l.unverified >= a.maxUnverified:
		return nil, errUnverifiedLimit
	case a.total >= a.maxTotal:
		if !a.evictOldest() {
			return nil, errBusy
		}
		l = a.perIP[ip] // the evicted transfer may have been ip's
	}
	sl := &slot{ip: ip}
	sl.elem = a.waiting.PushBack(sl)
	l.transfers++
	l.unverified++
	a.perIP[ip] = l
	a.total++
	a.m.inFlight.Inc()
	a.m.unverified.Inc()
	return sl, nil
}

// evictOldest stops the oldest unverified transfer and frees its place.
func (a *admission) evictOldest() bool {
	e := a.waiting.Front()
	if e == nil {
		return false
	}
	sl := e.Value.(*slot)
	a.forget(sl)
	sl.evicted.Store(true)
	if sl.conn != nil {
		// After setting evicted: the transfer checks it each time it
		// sets its own deadline, so it sees one or the other.
		sl.conn.SetReadDeadline(time.Now())
	}
	return true
}

// attach records the transfer's socket, so eviction can wake it. False:
// the transfer was evicted before it got this far.
func (a *admission) attach(sl *slot, c *net.UDPConn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	sl.conn = c
	return !sl.gone
}

// verified moves a transfer whose peer has answered out of the unverified
// counts, for good.
func (a *admission) verified(sl *slot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sl.gone || sl.elem == nil {
		return
	}
	a.waiting.Remove(sl.elem)
	sl.elem = nil
	l := a.perIP[sl.ip]
	l.unverified--
	a.perIP[sl.ip] = l
	a.m.unverified.Dec()
}

// leave frees the place of a transfer that has ended.
func (a *admission) leave(sl *slot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sl.conn = nil
	if !sl.gone {
		a.forget(sl)
	}
}

// forget takes sl out of every count; a.mu is held.
func (a *admission) forget(sl *slot) {
	sl.gone = true
	l := a.perIP[sl.ip]
	if sl.elem != nil {
		a.waiting.Remove(sl.elem)
		sl.elem = nil
		l.unverified--
		a.m.unverified.Dec()
	}
	if l.transfers--; l.transfers <= 0 {
		delete(a.perIP, sl.ip)
	} else {
		a.perIP[sl.ip] = l
	}
	a.total--
	a.m.inFlight.Dec()
}

// inFlight is the number of transfers counted now.
func (a *admission) inFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}
