package timeline

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// Recorder keeps the recent events of the recent machines. It is an
// event.Sink: hand it to every service. Its methods are safe for
// concurrent use.
type Recorder struct {
	cfg   Config
	log   zerolog.Logger
	loops prometheus.Counter

	// One lock for everything: recording is a map lookup, a list move and
	// a copy into a ring (about a hundred nanoseconds), so even a storm of
	// boots leaves it mostly free; the resolver, the clock and logging run
	// outside it.
	mu         sync.Mutex
	macs       map[hwKey]*entity
	byIP       map[netip.Addr]*entity // the machine each address was last seen with
	unresolved map[netip.Addr]*entity // events whose MAC is not known, by address
	macLRU     list
	ipLRU      list
}

// New checks cfg, fills its defaults and registers the metrics on reg.
// log receives one warning per boot loop.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	r := &Recorder{
		cfg: cfg,
		log: log,
		loops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_boot_loops_total",
			Help: "Boot loops detected: a machine completed loop_fetches fetches of the first-stage loader its DHCP reply named within loop_window. Counted once per machine per window.",
		}),
		macs:       map[hwKey]*entity{},
		byIP:       map[netip.Addr]*entity{},
		unresolved: map[netip.Addr]*entity{},
	}
	r.macLRU.init()
	r.ipLRU.init()
	machines := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bootsrv_timeline_machines",
		Help: "Machines whose boot timeline is kept, by MAC (at most timeline.machines).",
	}, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(len(r.macs))
	})
	for _, c := range []prometheus.Collector{r.loops, machines} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("timeline: metrics: %w", err)
		}
	}
	return r, nil
}

// entity is one timeline: a machine, keyed by MAC, or an address whose MAC
// is not known yet (mac.n == 0).
type entity struct {
	mac        hwKey
	macStr     string // mac.hw().String(), for search and the API
	ip         netip.Addr
	ipStr      string
	prev, next *entity // in its LRU list, most recent first

	events      ring
	total       uint64 // events ever recorded, including dropped ones
	first, last int64  // Unix nanoseconds
	hostname    string // the last non-empty one of its events
	arch        string
	vendorClass string
	userClass   string
	step        entry // the last event that is not a boot_loop
	hasStep     bool
	attrCache   [4]*attrs // its last distinct attrs
	attrNext    uint8
	bootfile    string // the bootfile the last DHCP reply named
	loop        *loopState
}

func (m *entity) reset() {
	ev := m.events
	ev.reset()
	*m = entity{events: ev}
}

// Record adds e to the timeline of its machine: by e.MAC, else by the MAC
// Config.Resolve or an earlier event gives for e.IP, else under e.IP until
// an event ties that address to a MAC. An event with neither is dropped.
func (r *Recorder) Record(e event.Event) {
	at := e.Time
	if at.IsZero() {
		at = r.cfg.Now()
	}
	ip := e.IP.Unmap()
	var key hwKey
	known := key.set(e.MAC)
	if !known && ip.IsValid() && r.cfg.Resolve != nil {
		if hw, ok := r.cfg.Resolve(ip); ok {
			known = key.set(hw)
		}
	}
	en := entry{at: at.UnixNano(), bytes: e.Bytes, dur: int64(e.Duration), file: e.File, detail: e.Detail,
		svc: e.Service, kind: e.Kind, result: e.Result, msg: e.MsgType}
	en.setIP(ip)

	r.mu.Lock()
	var m *entity
	switch {
	case known:
		m = r.machine(key)
	case !ip.IsValid():
		r.mu.Unlock()
		return
	case r.byIP[ip] != nil:
		m = r.byIP[ip]
		r.macLRU.moveToFront(m)
	default:
		m = r.unresolvedAt(ip)
	}
	warn := r.add(m, en, &e)
	if m.mac.n > 0 && ip.IsValid() {
		r.bind(m, ip, en.at)
	}
	r.mu.Unlock()

	if warn.fetches > 0 {
		r.loops.Inc()
		r.log.Warn().Str("mac", warn.mac).Str("ip", warn.ip).Str("hostname", warn.hostname).
			Str("file", warn.file).Int("fetches", warn.fetches).Dur("window", r.cfg.LoopWindow).
			Msg("boot loop: the machine keeps fetching its first-stage loader")
	}
}

// machine finds or makes the entity of key, most recent first in the LRU,
// reusing the least recently seen machine's when the table is full.
func (r *Recorder) machine(key hwKey) *entity {
	if m := r.macs[key]; m != nil {
		r.macLRU.moveToFront(m)
		return m
	}
	var m *entity
	if len(r.macs) >= r.cfg.Machines {
		m = r.macLRU.back()
		r.dropMachine(m)
		m.reset()
	} else {
		m = &entity{}
	}
	m.mac, m.macStr = key, key.hw().String()
	r.macs[key] = m
	r.macLRU.pushFront(m)
	return m
}

func (r *Recorder) dropMachine(m *entity) {
	r.macLRU.remove(m)
	delete(r.macs, m.mac)
	if r.byIP[m.ip] == m {
		delete(r.byIP, m.ip)
	}
}

// unresolvedAt finds or makes the entity of an address with no known MAC.
func (r *Recorder) unresolvedAt(ip netip.Addr) *entity {
	if p := r.unresolved[ip]; p != nil {
		r.ipLRU.moveToFront(p)
		return p
	}
	var p *entity
	if len(r.unresolved) >= r.cfg.UnresolvedIPs {
		p = r.ipLRU.back()
		r.ipLRU.remove(p)
		delete(r.unresolved, p.ip)
		p.reset()
	} else {
		p = &entity{}
	}
	p.ip, p.ipStr = ip, ip.String()
	r.unresolved[ip] = p
	r.ipLRU.pushFront(p)
	return p
}

// add puts en into m's ring and summary and runs loop detection. e is the
// event en was made from, for its strings.
func (r *Recorder) add(m *entity, en entry, e *event.Event) loopWarning {
	en.attrs = m.intern(e)
	if en.file != "" && en.file == m.step.file {
		en.file = m.step.file // keep one copy of a name seen again
	}
	r.absorb(m, en)
	if m.mac.n == 0 || r.cfg.LoopFetches < 0 {
		return loopWarning{}
	}
	if en.kind == event.DHCPOut && en.file != "" {
		m.bootfile = en.file
	}
	if !isLoaderFetch(m, en) {
		return loopWarning{}
	}
	fetches, warn := m.fetched(loaderName(m.bootfile), en.at, r.cfg)
	if !warn {
		return loopWarning{}
	}
	r.absorb(m, entry{at: en.at, svc: en.svc, kind: event.BootLoop, result: event.Failed, file: en.file,
		ip: en.ip, ipKind: en.ipKind, detail: fmt.Sprintf("fetched %d times within %s", fetches, r.cfg.LoopWindow)})
	return loopWarning{fetches: fetches, file: en.file, mac: m.macStr, ip: m.ipStr, hostname: m.hostname}
}

// absorb stores en in m's ring and updates what m's summary shows.
func (r *Recorder) absorb(m *entity, en entry) {
	m.events.push(en, r.cfg.EventsPerMachine)
	m.total++
	if m.first == 0 || en.at < m.first {
		m.first = en.at
	}
	m.last = max(m.last, en.at)
	if en.kind != event.BootLoop && (!m.hasStep || en.at >= m.step.at) {
		m.step, m.hasStep = en, true
	}
	if a := en.attrs; a != nil {
		setIf(&m.hostname, a.hostname)
		setIf(&m.arch, a.arch)
		setIf(&m.vendorClass, a.vendorClass)
		setIf(&m.userClass, a.userClass)
	}
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// intern returns the attrs of e's machine-describing strings, shared with
// m's earlier events when they are the same; nil when all are empty.
func (m *entity) intern(e *event.Event) *attrs {
	if e.Arch == "" && e.VendorClass == "" && e.UserClass == "" && e.Hostname == "" && e.Rule == "" {
		return nil
	}
	for _, a := range m.attrCache {
		if a != nil && a.matches(e) {
			return a
		}
	}
	a := &attrs{arch: e.Arch, vendorClass: e.VendorClass, userClass: e.UserClass, hostname: e.Hostname, rule: e.Rule}
	m.attrCache[m.attrNext] = a
	m.attrNext = (m.attrNext + 1) % uint8(len(m.attrCache))
	return a
}

// bind notes that machine m holds ip, and moves to m the recent events
// recorded under ip while its MAC was unknown.
func (r *Recorder) bind(m *entity, ip netip.Addr, at int64) {
	if m.ip != ip {
		if r.byIP[m.ip] == m {
			delete(r.byIP, m.ip)
		}
		m.ip, m.ipStr = ip, ip.String()
	}
	r.byIP[ip] = m
	if p := r.unresolved[ip]; p != nil {
		r.attach(m, p, at-int64(r.cfg.AttachWindow))
	}
}

// attach moves p's events from cutoff on into m's timeline, in time order.
// Older ones stay listed under p's address; p goes when none are left.
func (r *Recorder) attach(m, p *entity, cutoff int64) {
	var keep, move []entry
	for _, en := range p.events.all(nil) {
		if en.at >= cutoff {
			move = append(move, en)
		} else {
			keep = append(keep, en)
		}
	}
	if len(move) == 0 {
		return
	}
	merged := mergeByTime(m.events.all(nil), move)
	if n := r.cfg.EventsPerMachine; len(merged) > n {
		merged = merged[len(merged)-n:]
	}
	total := m.total
	m.events.reset()
	for _, en := range merged {
		r.absorb(m, en)
	}
	m.total = total + uint64(len(move))
	p.events.reset()
	for _, en := range keep {
		p.events.push(en, r.cfg.EventsPerMachine)
	}
	if len(keep) == 0 {
		r.ipLRU.remove(p)
		delete(r.unresolved, p.ip)
	}
}

// mergeByTime merges two lists that are each in recording order into one
// ordered by time; equal times keep a before b.
func mergeByTime(a, b []entry) []entry {
	out := make([]entry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].at < a[0].at {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// list is an intrusive doubly linked list of entities, most recently
// seen first, around a sentinel.
type list struct{ root entity }

func (l *list) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *list) pushFront(m *entity) {
	m.prev, m.next = &l.root, l.root.next
	l.root.next.prev = m
	l.root.next = m
}

func (l *list) remove(m *entity) {
	m.prev.next, m.next.prev = m.next, m.prev
	m.prev, m.next = nil, nil
}

func (l *list) moveToFront(m *entity) {
	if l.root.next == m {
		return
	}
	l.remove(m)
	l.pushFront(m)
}

// back is the least recently seen entity; nil when empty.
func (l *list) back() *entity {
	if l.root.prev == &l.root {
		return nil
	}
	return l.root.prev
}

// front and after walk the list from the most recent.
func (l *list) front() *entity { return l.after(&l.root) }

func (l *list) after(m *entity) *entity {
	if m.next == &l.root {
		return nil
	}
	return m.next
}

// unixTime turns stored nanoseconds back into a time; zero stays zero.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
