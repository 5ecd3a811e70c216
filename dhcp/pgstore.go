package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// storeTimeout bounds each database operation: a commit waiting longer is
// abandoned (no ACK; the client retransmits after about 4 s anyway).
const storeTimeout = 3 * time.Second

// pgStore is the LeaseStore that several servers share: a PostgreSQL
// database (schema in pgschema/, migrated at open). Each group of Commits
// is one transaction of pipelined statements, one per Commit; the
// primary key on the address and INSERT ... ON CONFLICT ... WHERE make
// the database, not any server's memory, decide who holds an address.
type pgStore struct {
	pool   *pgxpool.Pool
	gc     *groupCommitter
	health storeHealth
	once   sync.Once
}

// errBadDSN is the whole message for a connection string that does not
// parse: pgx's own errors can quote the string, password and all.
var errBadDSN = errors.New("not a valid PostgreSQL connection string (libpq key=value or postgres:// URL)")

// parseDSN parses a connection string for the pool.
func parseDSN(dsn string) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errBadDSN
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = storeTimeout
	}
	return pc, nil
}

// openPGStore connects to the database and migrates the lease schema.
// observe is told each transaction's duration and number of Commits; it
// may be nil.
func openPGStore(ctx context.Context, dsn string, observe func(time.Duration, int)) (*pgStore, error) {
	pc, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("lease database: %w", err)
	}
	if _, _, err := migrateSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &pgStore{pool: pool}
	s.gc = newGroupCommitter(s.write, observe)
	return s, nil
}

const leaseCols = "ip, mac, client_id, hostname, expiry, declined, server, duid, iaid"

func scanLease(row pgx.Row) (Lease, error) {
	var l Lease
	var iaid int64
	err := row.Scan(&l.IP, &l.MAC, &l.ClientID, &l.Hostname, &l.Expiry, &l.Declined, &l.Server, &l.DUID, &iaid)
	l.Expiry, l.IAID = l.Expiry.UTC(), uint32(iaid)
	return l, err
}

func (s *pgStore) List(ctx context.Context) ([]Lease, error) {
	rows, _ := s.pool.Query(ctx, "SELECT "+leaseCols+" FROM bootsrv_leases")
	leases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) { return scanLease(r) })
	return leases, s.health.note(err)
}

func (s *pgStore) ByAddr(ctx context.Context, ip netip.Addr) (Lease, bool, error) {
	return s.one(ctx, "SELECT "+leaseCols+" FROM bootsrv_leases WHERE ip = $1", ip)
}

func (s *pgStore) ByClient(ctx context.Context, k ClientKey) (Lease, bool, error) {
	return s.one(ctx, "SELECT "+leaseCols+" FROM bootsrv_leases WHERE client = $1 ORDER BY expiry DESC LIMIT 1", []byte(k))
}

func (s *pgStore) one(ctx context.Context, sql string, arg any) (Lease, bool, error) {
	l, err := scanLease(s.pool.QueryRow(ctx, sql, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Lease{}, false, s.health.note(nil)
	}
	return l, err == nil, s.health.note(err)
}

func (s *pgStore) Commit(ctx context.Context, now time.Time, changes ...Change) error {
	return s.gc.commit(ctx, now, changes)
}

func (s *pgStore) Expire(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM bootsrv_leases WHERE expiry < $1", before)
	return int(tag.RowsAffected()), s.health.note(err)
}

// Close waits for queued commits and closes the connections.
func (s *pgStore) Close() error {
	s.once.Do(func() {
		s.gc.close()
		s.pool.Close()
	})
	return nil
}

// bindSQL writes one Commit that binds a lease: the lease, when its
// address is free for the client ($11) at now ($12) or is its reservation
// ($13), and then, only if it was written, the endings ($14-$24). It
// returns whether the lease was written and, when it was not, the record
// that holds the address (as of the statement's snapshot: a row committed
// by a transaction this one waited for is not in it).
var bindSQL = `
WITH won AS (
	INSERT INTO bootsrv_leases AS l (ip, client, mac, client_id, hostname, expiry, declined, server, duid, iaid, txid)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, pg_current_xact_id()::text::bigint)
	ON CONFLICT (ip) DO UPDATE SET client = excluded.client, mac = excluded.mac, client_id = excluded.client_id,
		hostname = excluded.hostname, expiry = excluded.expiry, declined = excluded.declined,
		server = excluded.server, duid = excluded.duid, iaid = excluded.iaid, txid = excluded.txid
	WHERE l.client = $11 OR l.expiry <= $12 OR $13
	RETURNING 1
), ended AS (` + endSQL(14) + ` AND EXISTS (SELECT FROM won)
)
SELECT EXISTS (SELECT FROM won), h.ip, h.mac, h.client_id, h.hostname, h.expiry, h.declined, h.server, h.duid, h.iaid
FROM (VALUES (1)) AS one (x) LEFT JOIN bootsrv_leases h ON h.ip = $1 AND NOT EXISTS (SELECT FROM won)`

// endingsSQL writes a Commit that only ends leases.
var endingsSQL = endSQL(1)

// endSQL writes endings (one array parameter per column from $first,
// holder last) over records of their holders only.
func endSQL(first int) string {
	p := make([]any, 11)
	for i := range p {
		p[i] = first + i
	}
	return fmt.Sprintf(`
	UPDATE bootsrv_leases AS l SET client = e.client, mac = e.mac, client_id = e.client_id, hostname = e.hostname,
		expiry = e.expiry, declined = e.declined, server = e.server, duid = e.duid, iaid = e.iaid,
		txid = pg_current_xact_id()::text::bigint
	FROM unnest($%d::inet[], $%d::bytea[], $%d::text[], $%d::text[], $%d::text[], $%d::timestamptz[], $%d::bool[], $%d::text[],
		$%d::text[], $%d::bigint[], $%d::bytea[])
		AS e (ip, client, mac, client_id, hostname, expiry, declined, server, duid, iaid, holder)
	WHERE l.ip = e.ip AND l.client = e.holder`, p...)
}

// recordClient is the client column of the record a change writes: no
// client holds a declined address.
func recordClient(c Change) []byte {
	if c.Lease.Declined {
		return []byte{}
	}
	return []byte(c.Client)
}

// endingArgs is the endings as the arrays $14-$24 of bindSQL: one per
// column, holders last.
func endingArgs(endings []Change) []any {
	n := len(endings)
	ips, clients, macs, cids, hosts := make([]netip.Addr, n), make([][]byte, n), make([]string, n), make([]string, n), make([]string, n)
	exp, decl, srv, holders := make([]time.Time, n), make([]bool, n), make([]string, n), make([][]byte, n)
	duids, iaids := make([]string, n), make([]int64, n)
	for i, c := range endings {
		l := c.Lease
		ips[i], clients[i], macs[i], cids[i], hosts[i] = l.IP, recordClient(c), l.MAC, l.ClientID, l.Hostname
		exp[i], decl[i], srv[i], holders[i] = l.Expiry, l.Declined, l.Server, []byte(c.Client)
		duids[i], iaids[i] = l.DUID, int64(l.IAID)
	}
	return []any{ips, clients, macs, cids, hosts, exp, decl, srv, duids, iaids, holders}
}

// write applies a batch as one transaction, one pipelined statement per
// Commit, in order.
func (s *pgStore) write(batch []commitReq) ([]error, error) {
	errs := make([]error, len(batch))
	err := s.writeOnce(batch, errs)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "40P01" {
		// A deadlock with another server's batch (rows locked in other
		// orders); PostgreSQL rolled this one back. Once more.
		clear(errs)
		err = s.writeOnce(batch, errs)
	}
	if err != nil {
		return nil, s.health.note(err)
	}
	s.health.note(nil)
	s.fillHolders(batch, errs)
	return errs, nil
}

func (s *pgStore) writeOnce(batch []commitReq, errs []error) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	alone, rest := plan(batch, errs)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if len(alone) > 0 {
			queueBinds(b, batch, alone, errs)
		}
		for _, i := range rest {
			r := batch[i]
			bind, endings, _ := split(r.changes)
			if bind == nil {
				b.Queue(endingsSQL, endingArgs(endings)...)
				continue
			}
			l := bind.Lease
			args := append([]any{l.IP, recordClient(*bind), l.MAC, l.ClientID, l.Hostname, l.Expiry, l.Declined, l.Server,
				l.DUID, int64(l.IAID), []byte(bind.Client), r.now, bind.Reserved}, endingArgs(endings)...)
			ip := bind.Lease.IP
			b.Queue(bindSQL, args...).QueryRow(func(row pgx.Row) error {
				var won bool
				var hIP *netip.Addr
				var h struct {
					mac, cid, host, server, duid *string
					exp                          *time.Time
					decl                         *bool
					iaid                         *int64
				}
				if err := row.Scan(&won, &hIP, &h.mac, &h.cid, &h.host, &h.exp, &h.decl, &h.server, &h.duid, &h.iaid); err != nil {
					return err
				}
				if !won {
					holder := Lease{IP: ip}
					if hIP != nil {
						holder = Lease{IP: *hIP, MAC: *h.mac, ClientID: *h.cid, Hostname: *h.host, Expiry: h.exp.UTC(), Declined: *h.decl,
							Server: *h.server, DUID: *h.duid, IAID: uint32(*h.iaid)}
					}
					errs[i] = &TakenError{Holder: holder}
				}
				return nil
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// plan sorts a batch's Commits: those that only bind an address no other
// Commit of the batch touches commute with everything else in it, and go
// into one statement (alone); the others run one statement each, in
// order (rest). A Commit that is not well formed gets its error now.
func plan(batch []commitReq, errs []error) (alone, rest []int) {
	touched := map[netip.Addr]int{}
	for _, r := range batch {
		for _, c := range r.changes {
			touched[c.Lease.IP]++
		}
	}
	for i, r := range batch {
		bind, endings, err := split(r.changes)
		switch {
		case err != nil:
			errs[i] = err
		case bind != nil && len(endings) == 0 && !bind.Lease.Declined && touched[bind.Lease.IP] == 1:
			alone = append(alone, i)
		default:
			rest = append(rest, i)
		}
	}
	return alone, rest
}

// bindsSQL writes many binds of distinct addresses at once, each when its
// address is free for its client, expired at the earliest now of the
// batch ($11: a lease expiring within the batch's few milliseconds is
// refused, never taken early), or reserved for it ($12). It returns the
// addresses written.
const bindsSQL = `
INSERT INTO bootsrv_leases AS l (ip, client, mac, client_id, hostname, expiry, declined, server, duid, iaid, txid)
SELECT c.ip, c.client, c.mac, c.client_id, c.hostname, c.expiry, c.declined, c.server, c.duid, c.iaid, pg_current_xact_id()::text::bigint
FROM unnest($1::inet[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bool[], $8::text[], $9::text[], $10::bigint[])
	AS c (ip, client, mac, client_id, hostname, expiry, declined, server, duid, iaid)
ON CONFLICT (ip) DO UPDATE SET client = excluded.client, mac = excluded.mac, client_id = excluded.client_id,
	hostname = excluded.hostname, expiry = excluded.expiry, declined = excluded.declined,
	server = excluded.server, duid = excluded.duid, iaid = excluded.iaid, txid = excluded.txid
WHERE l.client = excluded.client OR l.expiry <= $11 OR excluded.ip = ANY($12::inet[])
RETURNING l.ip`

// queueBinds queues one statement for the Commits alone (indexes into
// batch) and marks those it did not write as taken (holders unknown:
// fillHolders reads them).
func queueBinds(b *pgx.Batch, batch []commitReq, alone []int, errs []error) {
	binds := make([]Change, len(alone))
	earliest := batch[alone[0]].now
	reserved := []netip.Addr{}
	for j, i := range alone {
		bind, _, _ := split(batch[i].changes)
		binds[j] = *bind
		if batch[i].now.Before(earliest) {
			earliest = batch[i].now
		}
		if bind.Reserved {
			reserved = append(reserved, bind.Lease.IP)
		}
	}
	args := endingArgs(binds)[:10] // the same columns, without holders
	b.Queue(bindsSQL, append(args, earliest, reserved)...).Query(func(rows pgx.Rows) error {
		won := map[netip.Addr]bool{}
		for rows.Next() {
			var ip netip.Addr
			if err := rows.Scan(&ip); err != nil {
				return err
			}
			won[ip] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for j, i := range alone {
			if !won[binds[j].Lease.IP] {
				errs[i] = &TakenError{Holder: Lease{IP: binds[j].Lease.IP}}
			}
		}
		return nil
	})
}

// fillHolders reads the holders a bind statement could not see (they
// committed while it waited for their row lock).
func (s *pgStore) fillHolders(batch []commitReq, errs []error) {
	for i := range batch {
		var te *TakenError
		if errors.As(errs[i], &te) && te.Holder.Expiry.IsZero() {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			if l, ok, err := s.ByAddr(ctx, te.Holder.IP); err == nil && ok {
				te.Holder = l
			}
			cancel()
		}
	}
}

// storeHealth is whether the database answered the last operation.
type storeHealth struct {
	mu   sync.Mutex
	down string // why it did not; "" when it did
}

// note records an operation's outcome and returns err, wrapped in
// ErrStoreUnavailable when it is about reaching the database rather than
// about the statement.
func (h *storeHealth) note(err error) error {
	unreachable := err != nil && !errors.Is(err, pgx.ErrNoRows)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention
		default:
			unreachable = false
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !unreachable {
		if err == nil || errors.Is(err, pgx.ErrNoRows) {
			h.down = ""
		}
		return err
	}
	h.down = err.Error()
	return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}

// unavailable is why the database did not answer the last operation, ""
// when it did.
func (h *storeHealth) unavailable() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}
