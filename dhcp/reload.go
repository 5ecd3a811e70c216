package dhcp

// comp is the compiled config in effect.
func (s *Server) comp() *compiled { return s.cur.Load() }

// PrepareReload checks cfg as New does and returns what puts it into
// effect: pools and their options, reservations, boot entries, ZTP rules,
// authoritative, offer and decline times, known_clients_only and
// offer_hold_percent apply to the messages that come after it. Leases stay
// as they are, also those whose pool is gone: they remain valid until they
// expire (a renewal then gets a NAK or silence, as for any address
// outside the pools). Offers keep their holds.
//
// What the server was built around cannot change while it runs: mode,
// interface, server_ip, port, pxe_port, the lease store, max_handlers,
// rate_limit and rogue_detection keep their running values here (the
// caller reports them as needing a restart). Nothing changes when it
// fails; apply cannot fail.
func (s *Server) PrepareReload(cfg Config) (apply func(), err error) {
	old := s.comp().cfg
	cfg.Mode, cfg.Interface, cfg.ServerIP, cfg.Port, cfg.PXEPort = old.Mode, old.Interface, old.ServerIP, old.Port, old.PXEPort
	cfg.LeaseFile, cfg.LeaseStore, cfg.MaxHandlers = old.LeaseFile, old.LeaseStore, old.MaxHandlers
	cfg.RateLimit, cfg.RogueDetection, cfg.Events = old.RateLimit, old.RogueDetection, old.Events
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if !c.serverIP.IsValid() {
		c.serverIP = s.serverIP
	}
	return func() {
		s.table.reconfigure(c)
		s.cur.Store(c)
	}, nil
}

// reconfigure takes the reservations and pools of c: reserved addresses
// change, and the holds of outstanding offers count against the cap of
// the pool of the same subnet in c (none when it is gone).
func (t *leaseTable) reconfigure(c *compiled) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reserved = map[uint32]*host{}
	for _, hs := range []map[string]*host{c.byMAC, c.byCID} {
		for _, h := range hs {
			if h.ip.IsValid() {
				t.reserved[u32(h.ip)] = h
			}
		}
	}
	byName := map[string]*pool{}
	for _, p := range c.pools {
		byName[p.name] = p
	}
	caps := newOfferCaps(c)
	caps.unheld, caps.lastSweep = t.caps.unheld, t.caps.lastSweep
	for ip, o := range t.offers {
		if o.pool == nil {
			continue
		}
		if np := byName[o.pool.name]; np != nil && inRange(np, ip) {
			o.pool = np
			caps.held[np]++
		} else {
			o.pool = nil
		}
		t.offers[ip] = o
	}
	t.caps = caps
	cursor := map[*pool]uint32{}
	for p, at := range t.cursor {
		if np := byName[p.name]; np != nil && np.last >= np.first && at <= np.last-np.first {
			cursor[np] = at
		}
	}
	t.cursor = cursor
}
