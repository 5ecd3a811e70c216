package dhcp

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// Rate is a number of events per second. In YAML it is a number ("5", read
// as per second), "N/s", "N/m" (per minute) or "off".
type Rate float64

// RateOff disables a rate limit.
const RateOff Rate = -1

// UnmarshalText reads "5", "5/s", "300/m" or "off".
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "off" {
		*r = RateOff
		return nil
	}
	num, per, _ := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a rate like 5/s, 300/m or off", s)
	}
	switch strings.TrimSpace(per) {
	case "", "s":
	case "m":
		v /= 60
	default:
		return fmt.Errorf("%q is not a rate like 5/s, 300/m or off", s)
	}
	if v == 0 {
		return fmt.Errorf("%q: a rate of 0 would drop everything; use off to disable the limit", s)
	}
	*r = Rate(v)
	return nil
}

// MarshalText writes the rate as UnmarshalText reads it.
func (r Rate) MarshalText() ([]byte, error) {
	if r < 0 {
		return []byte("off"), nil
	}
	return []byte(strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s"), nil
}

// RateLimit bounds how fast DHCP messages are handled, against address
// starvation and floods: every type (DISCOVER, REQUEST, INFORM, RELEASE,
// DECLINE), in proxy mode on the PXE port too. Over-limit messages are
// dropped without reply; clients retransmit (RFC 2131 §4.1), so a normal
// client that is briefly limited still gets its lease.
type RateLimit struct {
	// PerClient is the sustained rate for one client (client id, else
	// chaddr). Default 2/s: a client needs 2 messages per exchange and a PXE
	// boot does about three exchanges (firmware, iPXE, OS). "off": no
	// per-client limit. Drops count as drops_total{reason="rate_limited"}.
	PerClient Rate `yaml:"per_client"`
	// PerClientBurst is how many messages one client may send at once
	// before PerClient applies. Default 10.
	PerClientBurst int `yaml:"per_client_burst"`
	// Global is the sustained rate of messages from all clients together.
	// A REQUEST answering an OFFER we made in the last offer_time, and a
	// REQUEST, RELEASE or DECLINE from a client holding an active lease,
	// is not counted: an exchange we started is always finished. Default 1000/s (two thousand machines
	// booting within the same second still fit GlobalBurst). "off": no
	// global limit. Drops count as drops_total{reason="global_rate_limited"}.
	Global Rate `yaml:"global"`
	// GlobalBurst is the global bucket's size. Default 2000.
	GlobalBurst int `yaml:"global_burst"`
	// Clients bounds the per-client table (least recently seen clients are
	// forgotten first, so a flood of random MACs cannot grow it). The
	// table also remembers the last address offered to each client, which
	// its SELECTING REQUEST must name; a client forgotten between OFFER
	// and REQUEST whose offer held no address is NAKed and starts over.
	// Default 10000 (about 1 MB).
	Clients int `yaml:"clients"`
}

func (r RateLimit) withDefaults() RateLimit {
	if r.PerClient == 0 {
		r.PerClient = 2
	}
	if r.PerClientBurst == 0 {
		r.PerClientBurst = 10
	}
	if r.Global == 0 {
		r.Global = 1000
	}
	if r.GlobalBurst == 0 {
		r.GlobalBurst = 2000
	}
	if r.Clients == 0 {
		r.Clients = 10000
	}
	return r
}

func (r RateLimit) validate() error {
	switch {
	case r.PerClient < 0 && r.PerClient != RateOff:
		return cfgerr.Errorf("rate_limit.per_client", "must be a positive rate or off")
	case r.Global < 0 && r.Global != RateOff:
		return cfgerr.Errorf("rate_limit.global", "must be a positive rate or off")
	case r.PerClientBurst < 1:
		return cfgerr.Errorf("rate_limit.per_client_burst", "must be at least 1")
	case r.GlobalBurst < 1:
		return cfgerr.Errorf("rate_limit.global_burst", "must be at least 1")
	case r.Clients < 1:
		return cfgerr.Errorf("rate_limit.clients", "must be at least 1")
	}
	return nil
}

// bucket is a token bucket: it holds up to burst tokens and gains rate
// tokens per second; each message takes one.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, rate Rate, burst int) bool {
	if rate < 0 {
		return true
	}
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(float64(burst), b.tokens+el*float64(rate))
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

type clientState struct {
	key     ClientKey
	bucket  bucket
	offered time.Time  // when we last sent this client an OFFER
	offer   netip.Addr // the address in it: what its SELECTING REQUEST may name (handle.go)
}

// limiter holds the global bucket and a bounded LRU of per-client state.
type limiter struct {
	cfg RateLimit

	mu       sync.Mutex
	global   bucket
	arrivals rateMeter      // packets facing the global limit
	rnd      func() float64 // [0,1); tests make it deterministic
	lru      *list.List     // of *clientState, most recent first
	clients  map[ClientKey]*list.Element
}

func newLimiter(cfg RateLimit) *limiter {
	return &limiter{cfg: cfg, rnd: rand.Float64, lru: list.New(), clients: map[ClientKey]*list.Element{}}
}

// verdict is "" to handle the message, else the drop reason.
//
// A known client is checked against its own bucket first, so one chatty
// client cannot drain the global bucket; an unknown one enters the table
// only after passing the global bucket, so a flood of random MACs dropped
// there never churns the table. exempt (the client is finishing an exchange
// we started) skips the global bucket only.
func (l *limiter) verdict(k ClientKey, exempt func(offered time.Time) bool, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cs *clientState
	if el := l.clients[k]; el != nil {
		l.lru.MoveToFront(el)
		cs = el.Value.(*clientState)
		if !cs.bucket.take(now, l.cfg.PerClient, l.cfg.PerClientBurst) {
			return "rate_limited"
		}
	}
	var offered time.Time
	if cs != nil {
		offered = cs.offered
	}
	if !exempt(offered) && !l.globalAdmit(now) {
		return "global_rate_limited"
	}
	if cs == nil {
		cs = l.insert(k)
		cs.bucket.take(now, l.cfg.PerClient, l.cfg.PerClientBurst)
	}
	return ""
}

// globalAdmit applies the global limit. A plain token bucket gives each
// new token to whichever packet comes next, so a steady flood arriving just
// after every refill takes all of them and a real client's retries never
// win. So once packets arrive faster than the limit, each one first passes
// with the same chance, limit ÷ arrival rate, whatever its timing; the
// bucket stays the hard cap (and alone decides below the limit, so bursts
// up to global_burst pass as before). Caller holds mu.
func (l *limiter) globalAdmit(now time.Time) bool {
	if l.cfg.Global < 0 {
		return true
	}
	rate := l.arrivals.note(now)
	if limit := float64(l.cfg.Global); rate > limit && l.rnd() >= limit/rate {
		return false
	}
	return l.global.take(now, l.cfg.Global, l.cfg.GlobalBurst)
}

// rateMeter estimates arrivals per second over a sliding second: the
// previous whole second weighted by how much of it the window still covers,
// plus the current one.
type rateMeter struct {
	start     time.Time // of the current second
	cur, prev float64
}

// note counts one arrival at now and returns the estimated rate.
func (m *rateMeter) note(now time.Time) float64 {
	switch el := now.Sub(m.start); {
	case m.start.IsZero() || el >= 2*time.Second || el < 0:
		m.start, m.prev, m.cur = now, 0, 0
	case el >= time.Second:
		m.start, m.prev, m.cur = m.start.Add(time.Second), m.cur, 0
	}
	m.cur++
	frac := now.Sub(m.start).Seconds()
	return m.prev*(1-frac) + m.cur
}

// insert adds k at the front, forgetting the least recently seen client
// when the table is full. Caller holds mu.
func (l *limiter) insert(k ClientKey) *clientState {
	for l.lru.Len() >= l.cfg.Clients {
		old := l.lru.Back()
		delete(l.clients, old.Value.(*clientState).key)
		l.lru.Remove(old)
	}
	cs := &clientState{key: k}
	l.clients[k] = l.lru.PushFront(cs)
	return cs
}

// offered records an OFFER of ip to k, so its REQUEST skips the global
// bucket and may name ip even after the offer's hold has ended.
func (l *limiter) offered(k ClientKey, ip netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.clients[k]
	if el == nil {
		el = l.clients[l.insert(k).key]
	}
	cs := el.Value.(*clientState)
	cs.offered, cs.offer = now, ip
}

// lastOffer is the address of the last OFFER to k and when it was made;
// invalid when none is remembered (never offered, or forgotten by the LRU
// under a flood of more than rate_limit.clients new clients).
func (l *limiter) lastOffer(k ClientKey) (netip.Addr, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.clients[k]
	if el == nil {
		return netip.Addr{}, time.Time{}
	}
	cs := el.Value.(*clientState)
	return cs.offer, cs.offered
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// admit applies known_clients_only and the rate limits to one parsed
// message, counting and logging (sampled) what it drops.
func (s *Server) admit(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, log zerolog.Logger) bool {
	now := s.now()
	if s.safety.rogue.isProbe(req) {
		s.m.drop("own_probe")
		return false
	}
	k, h := s.client(req)
	if s.comp().cfg.KnownClientsOnly && h == nil {
		s.safety.dropped(s.m, "unknown_client", now, log)
		return false
	}
	// Every message faces the limits, whatever its type and port: each
	// reply (an INFORM's ACK to ciaddr, a PXE port ACK to the source
	// address) is a packet an attacker can make us send, and RELEASE and
	// DECLINE cost a lease file commit.
	exempt := func(offered time.Time) bool {
		switch mt {
		case dhcpv4.MessageTypeRequest:
			if !offered.IsZero() && now.Sub(offered) < s.comp().cfg.OfferTime {
				return true
			}
		case dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeDecline:
		default:
			return false
		}
		return s.table.bound(k, now)
	}
	if why := s.safety.limit.verdict(k, exempt, now); why != "" {
		s.safety.dropped(s.m, why, now, log)
		return false
	}
	return true
}

// bound reports whether client k holds an active lease.
func (t *leaseTable) bound(k ClientKey, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ip, ok := t.byKey[k]
	if !ok {
		return false
	}
	e := t.byIP[ip]
	return e != nil && e.key == k && now.Before(e.lease.Expiry)
}
