package dhcp

import (
	"cmp"
	"context"
	"hash/fnv"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// Several servers on one segment share one PostgreSQL lease store
// (lease_store type postgres). The database decides who holds an address
// (pgstore.go); this file decides who answers whom, so that a healthy
// group does not send every reply twice, and keeps each server's lease
// table in step with what the others write.
//
// Who answers client k: the server that last wrote k's lease record, while
// its heartbeat is fresh; otherwise, and for clients with no record, the
// alive server that k's key hashes to (rendezvous hashing over the alive
// servers' ids, in the spirit of RFC 3074's hash of the client
// identifier, else chaddr). So a server answers its partners' clients only
// once their heartbeat is older than peer_timeout, and when a server
// dies its clients spread over the survivors; when it comes back, only
// the new clients that hash to it move. A SELECTING REQUEST is answered
// by the server it names (option 54), RELEASE and DECLINE likewise.
//
// Every heartbeat, a server also reads the records the others wrote since
// the last read (by transaction id, from a snapshot's xmin, so none is
// missed however transactions interleave) into its table. A REQUEST for an
// address the table knows no lease of for that client asks the database;
// so does a DISCOVER from a client the table has no record of, while the
// group is changing (in a settled group such a client is new).

// peer is a server sharing the store, as its heartbeat row says.
type peer struct {
	id string
	ip netip.Addr
}

// sharing is a server's view of the group sharing its store.
type sharing struct {
	st          *pgStore
	self        peer
	every       time.Duration
	peerTimeout time.Duration

	mu      sync.Mutex
	alive   []peer    // fresh heartbeats, this server included
	changed time.Time // when alive last changed (zero: never; alone at start)
	cursor  int64     // read the others' records from this transaction id
	down    bool      // the last heartbeat failed
}

func newSharing(st *pgStore, self peer, cfg LeaseStoreConfig) *sharing {
	return &sharing{st: st, self: self, every: cfg.Heartbeat, peerTimeout: cfg.PeerTimeout, alive: []peer{self}}
}

// settled reports whether the group has not changed for long enough that
// every server agrees who is alive and has read what the others wrote: a
// client that hashes here and that this server has no record of is then
// new, and a DISCOVER need not ask the database about it. While the
// group changes (a server started, died or came back) it must: the
// client may hold a lease another server wrote a moment ago.
func (sh *sharing) settled(now time.Time) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return now.Sub(sh.changed) > sh.peerTimeout+2*sh.every
}

// score is client k's rendezvous weight for server id: FNV-1a, then
// MurmurHash3's 64-bit finalizer, without which ids that differ in one
// byte order most clients the same way.
func score(id string, k ClientKey) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(k))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// preferred reports whether client k hashes to this server among the
// alive ones.
func (sh *sharing) preferred(k ClientKey) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	best, bestScore := "", uint64(0)
	for _, p := range sh.alive {
		if s := score(p.id, k); best == "" || s > bestScore || (s == bestScore && p.id < best) {
			best, bestScore = p.id, s
		}
	}
	return best == sh.self.id
}

// isAlive reports whether server id has a fresh heartbeat.
func (sh *sharing) isAlive(id string) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return slices.ContainsFunc(sh.alive, func(p peer) bool { return p.id == id })
}

// isPeer reports whether ip is the server id (option 54) of another alive
// server of the group: its OFFERs and ACKs are not a rogue server's.
func (sh *sharing) isPeer(ip netip.Addr) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return slices.ContainsFunc(sh.alive, func(p peer) bool { return p.ip == ip && p.id != sh.self.id })
}

func (sh *sharing) aliveCount() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.alive)
}

// answers reports whether this server answers client k whose lease record
// was last written by server owner ("" when there is none).
func (sh *sharing) answers(k ClientKey, owner string) bool {
	switch {
	case owner == sh.self.id:
		return true
	case owner != "" && sh.isAlive(owner):
		return false
	}
	return sh.preferred(k)
}

// answers reports whether this server answers client k about ip (invalid:
// about the client's current lease), asking the store when the table has
// no record of it and the client hashes here (about its current lease:
// only while the group is not settled). Without a shared store it always
// does. A client left to another server is counted as a drop.
func (s *Server) answers(k ClientKey, ip netip.Addr) bool {
	sh := s.share
	if sh == nil {
		return true
	}
	owner, known := s.table.writer(k, ip)
	if !known && sh.preferred(k) && (ip.IsValid() || !sh.settled(time.Now())) {
		s.fetch(k, ip)
		owner, _ = s.table.writer(k, ip)
	}
	if !sh.answers(k, owner) {
		s.m.drop("peer_client")
		return false
	}
	return true
}

// fetch reads client k's record on ip (invalid: its latest record) from
// the store into the table.
func (s *Server) fetch(k ClientKey, ip netip.Addr) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	var l Lease
	var ok bool
	var err error
	if ip.IsValid() {
		l, ok, err = s.store.ByAddr(ctx, ip)
	} else {
		l, ok, err = s.store.ByClient(ctx, k)
	}
	if err != nil {
		s.m.storeError("lookup")
		return
	}
	if ok {
		s.table.learn(l)
	}
}

// storeDown reports whether the shared store is unreachable, counting a
// drop: no OFFER or ACK is made that could not be committed.
func (s *Server) storeDown() bool {
	if s.share == nil || s.share.st.health.unavailable() == "" {
		return false
	}
	s.m.drop("store_unavailable")
	return true
}

// Degraded says why the DHCP service is not fully serving ("" when it
// is): the shared lease store is unreachable, so no lease is granted or
// renewed. For /healthz.
func (s *Server) Degraded() string {
	if s.share != nil && s.share.st.health.unavailable() != "" {
		return "lease store unavailable"
	}
	return ""
}

// serverID is the name this server writes on lease records: its
// lease_store.server_id when it shares the store, else "".
func (s *Server) serverID() string {
	if s.share == nil {
		return ""
	}
	return s.share.self.id
}

// openShared opens the PostgreSQL store, loads the table and learns the
// group before the first packet.
func (s *Server) openShared(cfg Config) error {
	dsn, err := cfg.LeaseStore.dsn()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := openPGStore(ctx, dsn, s.m.observeCommit)
	if err != nil {
		return cfgerr.New("lease_store", err)
	}
	cursor, err := st.cursor(ctx)
	var leases []Lease
	if err == nil {
		leases, err = st.List(ctx)
	}
	if err != nil {
		st.Close()
		return cfgerr.New("lease_store", err)
	}
	id := cfg.LeaseStore.ServerID
	if id == "" {
		id = s.serverIP.String()
	}
	s.store, s.table = st, newLeaseTable(s.comp(), leases)
	s.share = newSharing(st, peer{id: id, ip: s.serverIP}, cfg.LeaseStore)
	s.share.cursor = cursor
	s.safety.rogue.isPeer = s.share.isPeer
	s.shareTick(ctx)
	s.log.Info().Str("lease_store", StorePostgres).Str("server_id", id).Int("leases", len(leases)).
		Int("servers_alive", s.share.aliveCount()).Msg("dhcp leases loaded")
	return nil
}

// shareLoop writes heartbeats and reads the others' records until ctx is
// cancelled, then leaves the group so the others answer its clients at
// once.
func (s *Server) shareLoop(ctx context.Context) {
	t := time.NewTicker(s.share.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			defer cancel()
			if err := s.share.st.leave(lctx, s.share.self.id); err != nil {
				s.log.Warn().Err(err).Msg("dhcp: heartbeat row not removed; the others take over after peer_timeout")
			}
			return
		case <-t.C:
			tctx, cancel := context.WithTimeout(ctx, storeTimeout)
			s.shareTick(tctx)
			cancel()
		}
	}
}

// shareTick is one heartbeat: write ours, read who is alive, read what
// the others wrote.
func (s *Server) shareTick(ctx context.Context) {
	sh := s.share
	alive, err := sh.st.heartbeat(ctx, sh.self, sh.peerTimeout)
	if err != nil {
		s.m.storeError("heartbeat")
		sh.mu.Lock()
		wasDown := sh.down
		sh.down = true
		sh.mu.Unlock()
		if !wasDown {
			s.log.Error().Err(err).Msg("dhcp lease store unavailable: no lease is granted or renewed until it is back")
		}
		return
	}
	if !slices.ContainsFunc(alive, func(p peer) bool { return p.id == sh.self.id }) {
		alive = append(alive, sh.self)
	}
	slices.SortFunc(alive, func(a, b peer) int { return cmp.Compare(a.id, b.id) })
	sh.mu.Lock()
	before, wasDown := sh.alive, sh.down
	sh.alive, sh.down = alive, false
	if !slices.Equal(before, alive) {
		sh.changed = time.Now()
	}
	cursor := sh.cursor
	sh.mu.Unlock()
	if wasDown {
		s.log.Info().Msg("dhcp lease store reachable again")
	}
	if !slices.Equal(before, alive) {
		s.table.split(slices.IndexFunc(alive, func(p peer) bool { return p.id == sh.self.id }), len(alive))
		ids := make([]string, len(alive))
		for i, p := range alive {
			ids[i] = p.id
		}
		s.log.Info().Strs("servers", ids).Msg("dhcp servers sharing the lease store changed")
	}
	leases, next, err := sh.st.changes(ctx, cursor, sh.self.id)
	if err != nil {
		s.m.storeError("sync")
		return
	}
	s.table.learn(leases...)
	sh.mu.Lock()
	sh.cursor = next
	sh.mu.Unlock()
}

// heartbeat writes self's heartbeat row (the database's clock, so the
// servers' clocks do not matter) and returns the servers whose heartbeat
// is younger than timeout.
func (s *pgStore) heartbeat(ctx context.Context, self peer, timeout time.Duration) ([]peer, error) {
	var ip *netip.Addr
	if self.ip.IsValid() {
		ip = &self.ip
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO bootsrv_servers (id, server_ip, heartbeat) VALUES ($1, $2, now())
		ON CONFLICT (id) DO UPDATE SET server_ip = excluded.server_ip, heartbeat = excluded.heartbeat`, self.id, ip)
	b.Queue(`SELECT id, server_ip FROM bootsrv_servers WHERE heartbeat > now() - make_interval(secs => $1)`, timeout.Seconds())
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var peers []peer
	if err == nil {
		rows, qerr := br.Query()
		peers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (peer, error) {
			var p peer
			var ip *netip.Addr
			err := r.Scan(&p.id, &ip)
			if ip != nil {
				p.ip = *ip
			}
			return p, err
		})
		if qerr != nil {
			err = qerr
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return peers, s.health.note(err)
}

// leave deletes self's heartbeat row.
func (s *pgStore) leave(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM bootsrv_servers WHERE id = $1", id)
	return s.health.note(err)
}

// cursor is the oldest transaction still running: every record written
// later than what a read from now on sees has a txid at least this.
func (s *pgStore) cursor(ctx context.Context) (int64, error) {
	var c int64
	err := s.pool.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&c)
	return c, s.health.note(err)
}

// changes returns the records other servers than self wrote in
// transactions from since on, and the cursor for the next call (taken
// before the read, so a transaction that commits meanwhile is read next
// time).
func (s *pgStore) changes(ctx context.Context, since int64, self string) ([]Lease, int64, error) {
	next, err := s.cursor(ctx)
	if err != nil {
		return nil, since, err
	}
	rows, _ := s.pool.Query(ctx, "SELECT "+leaseCols+" FROM bootsrv_leases WHERE txid >= $1 AND server <> $2", since, self)
	leases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) { return scanLease(r) })
	if err != nil {
		return nil, since, s.health.note(err)
	}
	return leases, next, nil
}
