package timeline

import (
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// Summary is one machine as GET /api/machines lists it. A machine whose
// MAC is not known is listed by its IP, with Unresolved set.
type Summary struct {
	MAC         string    `json:"mac,omitempty"`
	IP          string    `json:"ip,omitempty"` // the last address it was seen with
	Hostname    string    `json:"hostname,omitempty"`
	Arch        string    `json:"arch,omitempty"`
	VendorClass string    `json:"vendor_class,omitempty"`
	UserClass   string    `json:"user_class,omitempty"`
	FirstSeen   time.Time `json:"first_seen"` // of the events recorded since it was last dropped
	LastSeen    time.Time `json:"last_seen"`
	// LastStep is its last event in words: "dhcp ack", "tftp pxelinux.0
	// ok", "http vmlinuz error: not found".
	LastStep   string       `json:"last_step,omitempty"`
	LastResult event.Result `json:"last_result,omitempty"`
	// Bootfile is what its last DHCP reply told it to load.
	Bootfile string `json:"bootfile,omitempty"`
	// BootLoop is set while it is in a boot loop: one was seen within the
	// last timeline.loop_window. LastBootLoop is when one was last seen.
	BootLoop     bool      `json:"boot_loop"`
	LastBootLoop time.Time `json:"last_boot_loop,omitzero"`
	Events       int       `json:"events"`       // events kept
	EventsTotal  uint64    `json:"events_total"` // events recorded, older ones dropped included
	Unresolved   bool      `json:"unresolved,omitempty"`
}

// Entry is one event as GET /api/machines/{mac} shows it.
type Entry struct {
	Time            time.Time     `json:"time"`
	IP              string        `json:"ip,omitempty"`
	Service         event.Service `json:"service"`
	Kind            event.Kind    `json:"kind"`
	Result          event.Result  `json:"result,omitempty"`
	MsgType         event.MsgType `json:"msg_type,omitempty"`
	Arch            string        `json:"arch,omitempty"`
	VendorClass     string        `json:"vendor_class,omitempty"`
	UserClass       string        `json:"user_class,omitempty"`
	Hostname        string        `json:"hostname,omitempty"`
	File            string        `json:"file,omitempty"`
	Bytes           int64         `json:"bytes,omitempty"`
	DurationSeconds float64       `json:"duration_seconds,omitempty"`
	Detail          string        `json:"detail,omitempty"`
	Rule            string        `json:"rule,omitempty"`
}

// Machine is a machine's summary and its events, oldest first.
type Machine struct {
	Summary Summary `json:"summary"`
	Events  []Entry `json:"events"`
}

// List is a page of machines, most recently seen first.
type List struct {
	Total    int       `json:"total"` // machines matching the query, on all pages
	Offset   int       `json:"offset"`
	Limit    int       `json:"limit"`
	Machines []Summary `json:"machines"`
}

// Machines returns the machines matching q, most recently seen first,
// skipping offset and at most limit of them. q matches a part of the MAC
// (with : or -), the IP or the host name (any case); empty matches all.
// The walk stops at the page's end when q is empty, so a first page costs
// the same with 10 or 10,000 machines; a search reads every machine.
func (r *Recorder) Machines(q string, offset, limit int) List {
	qs := newQuery(q)
	now := r.cfg.Now().UnixNano()
	list := List{Offset: offset, Limit: limit, Machines: []Summary{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	a, b := r.macLRU.front(), r.ipLRU.front()
	for a != nil || b != nil {
		var m *entity
		if b == nil || (a != nil && a.last >= b.last) {
			m, a = a, r.macLRU.after(a)
		} else {
			m, b = b, r.ipLRU.after(b)
		}
		if !qs.matches(m) {
			continue
		}
		if list.Total >= offset && len(list.Machines) < limit {
			list.Machines = append(list.Machines, r.summary(m, now))
		}
		list.Total++
		if qs.all && len(list.Machines) == limit {
			list.Total = len(r.macs) + len(r.unresolved)
			break
		}
	}
	return list
}

// Machine returns the timeline of mac.
func (r *Recorder) Machine(mac net.HardwareAddr) (Machine, bool) {
	var key hwKey
	if !key.set(mac) {
		return Machine{}, false
	}
	now := r.cfg.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.macs[key]
	if m == nil {
		return Machine{}, false
	}
	return r.machineView(m, now), true
}

// MachineByIP returns the timeline kept under ip while its MAC is unknown,
// else that of the machine last seen with ip.
func (r *Recorder) MachineByIP(ip netip.Addr) (Machine, bool) {
	ip = ip.Unmap()
	now := r.cfg.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.unresolved[ip]
	if m == nil {
		m = r.byIP[ip]
	}
	if m == nil {
		return Machine{}, false
	}
	return r.machineView(m, now), true
}

func (r *Recorder) machineView(m *entity, now int64) Machine {
	entries := m.events.all(make([]entry, 0, m.events.len()))
	// Services record concurrently, so arrival order may differ a little
	// from time order.
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at < entries[j].at })
	out := Machine{Summary: r.summary(m, now), Events: make([]Entry, len(entries))}
	for i, en := range entries {
		out.Events[i] = en.view()
	}
	return out
}

func (r *Recorder) summary(m *entity, now int64) Summary {
	s := Summary{MAC: m.macStr, IP: m.ipStr, Hostname: m.hostname, Arch: m.arch, VendorClass: m.vendorClass,
		UserClass: m.userClass, FirstSeen: unixTime(m.first), LastSeen: unixTime(m.last), Bootfile: m.bootfile,
		BootLoop: m.looping(now, r.cfg), Events: m.events.len(), EventsTotal: m.total, Unresolved: m.mac.n == 0}
	if m.hasStep {
		s.LastStep, s.LastResult = m.step.text(), m.step.result
	}
	if m.loop != nil {
		s.LastBootLoop = unixTime(m.loop.seen)
	}
	return s
}

func (en entry) view() Entry {
	v := Entry{Time: unixTime(en.at), Service: en.svc, Kind: en.kind, Result: en.result, MsgType: en.msg,
		File: en.file, Bytes: en.bytes, DurationSeconds: time.Duration(en.dur).Seconds(), Detail: en.detail}
	if ip := en.addr(); ip.IsValid() {
		v.IP = ip.String()
	}
	if a := en.attrs; a != nil {
		v.Arch, v.VendorClass, v.UserClass, v.Hostname, v.Rule = a.arch, a.vendorClass, a.userClass, a.hostname, a.rule
	}
	return v
}

// text is the event in words, for Summary.LastStep.
func (en entry) text() string {
	var b strings.Builder
	word := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	if en.svc != 0 {
		word(en.svc.String())
	}
	dhcp := false
	switch en.kind {
	case event.DHCPIn, event.DHCPOut:
		dhcp = en.msg != 0
		if dhcp {
			word(en.msg.String())
		} else {
			word(en.kind.String())
		}
	case event.Transfer:
		word(en.file)
	case event.Login:
		word("login")
		word(en.detail)
	case event.Refusal:
		word("refused")
		word(en.file)
	default:
		word(en.kind.String())
		word(en.file)
	}
	if !dhcp && en.result != 0 {
		word(en.result.String())
	}
	if en.detail != "" && en.kind != event.Login && (en.result == event.Failed || en.kind == event.Refusal) {
		b.WriteString(": ")
		b.WriteString(en.detail)
	}
	return b.String()
}

// query is a search of the machine list, prepared once per request.
type query struct {
	all     bool
	text    string // lower case
	macText string // with - read as :, for MACs written 52-54-00-...
}

func newQuery(q string) query {
	q = strings.ToLower(strings.TrimSpace(q))
	return query{all: q == "", text: q, macText: strings.ReplaceAll(q, "-", ":")}
}

func (q query) matches(m *entity) bool {
	return q.all || strings.Contains(m.macStr, q.macText) || strings.Contains(m.ipStr, q.text) ||
		containsFold(m.hostname, q.text)
}

// containsFold is strings.Contains ignoring ASCII case, without the
// allocation of lowering s (it runs for every machine of a search); sub
// is lower case already.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && lower(s[i+j]) == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
