package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Lease is one address binding as kept in a lease store and listed by
// `bootsrv leases`: an IPv4 address of a DHCPv4 client, or an IPv6
// address of a DHCPv6 client's identity association (DUID and IAID set).
type Lease struct {
	IP       netip.Addr `json:"ip"`
	MAC      string     `json:"mac,omitempty"`
	ClientID string     `json:"client_id,omitempty"` // option 61, hex
	// DUID and IAID are, for a DHCPv6 lease, the client's DUID (hex) and
	// the IAID of its IA_NA (RFC 8415 §11, §12), which together are its
	// client key; empty for DHCPv4.
	DUID     string    `json:"duid,omitempty"`
	IAID     uint32    `json:"iaid,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Expiry   time.Time `json:"expiry"`
	// Declined marks an address a client declined (RFC 2131 §4.3.3); it is
	// out of use until Expiry.
	Declined bool `json:"declined,omitempty"`
	// Server is the server_id of the server that wrote the record last,
	// in a store several servers share (lease_store.type postgres); empty
	// otherwise. That server answers the client while it is alive.
	Server string `json:"server,omitempty"`
}

// Active reports whether the lease still holds its address at now.
func (l Lease) Active(now time.Time) bool { return now.Before(l.Expiry) }

// LeaseStore is where acknowledged leases live: a lease is in the store
// before its ACK is sent. The server's lease table (table.go) is an index
// over it, loaded with List at start and kept in step by the server's own
// Commits.
//
// Durability is the store's promise, and the same tests check it for
// every implementation (store_test.go): once Commit returns nil, the
// changes survive a crash of the process (and, for a database, of the
// database server), and two clients never both hold an active lease on
// one address, however many servers commit to the store at once.
type LeaseStore interface {
	// List returns every lease record in the store, expired and declined
	// ones included.
	List(ctx context.Context) ([]Lease, error)
	// ByAddr returns the record on ip, if there is one.
	ByAddr(ctx context.Context, ip netip.Addr) (Lease, bool, error)
	// ByClient returns client k's record with the latest expiry, if it
	// has one.
	ByClient(ctx context.Context, k ClientKey) (Lease, bool, error)
	// Commit makes the changes durable and returns once they are. At most
	// one change may bind (not end) a lease, and it decides: when its
	// address is not free for its client at now, nothing is written and
	// the error is a *TakenError naming the holder. Concurrent Commits
	// share transactions (group commit) but each is applied whole or not
	// at all, in the order they were queued. An error wrapping
	// ErrStoreUnavailable means the store could not be reached: the
	// changes may or may not have been written.
	Commit(ctx context.Context, now time.Time, changes ...Change) error
	// Expire deletes the records that ended before before (declined ones
	// included) and reports how many it deleted.
	Expire(ctx context.Context, before time.Time) (int, error)
	// Close waits for queued commits and releases the store. No other
	// method may be called during or after Close.
	Close() error
}

// Change is one lease record to write on behalf of client Client.
type Change struct {
	Lease Lease
	// Client is the client the change is made for: the record is written
	// only when Lease.IP is free for it at the commit's now (no record, a
	// record of Client, or an expired one).
	Client ClientKey
	// Reserved marks Lease.IP as Client's reservation: it is written
	// whoever holds the address, because a host keeps its reserved
	// address when it changes client id (udhcpc sends none, dhcpcd a
	// DUID) and every server has the same reservations.
	Reserved bool
	// Ending marks a change that ends Client's own lease: a release, a
	// decline, or the old address of a client that moved. It is written
	// only over a record of Client and skipped otherwise (the address is
	// no longer the client's to end); it never fails a Commit.
	Ending bool
}

var (
	// ErrAddressTaken means a Change lost: another client holds the
	// address.
	ErrAddressTaken = errors.New("address held by another client")
	// ErrStoreUnavailable means the lease store could not be reached (a
	// database that is down or cut off).
	ErrStoreUnavailable = errors.New("lease store unavailable")
	errTwoBinds         = errors.New("lease store: a commit may bind at most one lease")
)

// TakenError is ErrAddressTaken with the record that holds the address.
type TakenError struct{ Holder Lease }

func (e *TakenError) Error() string {
	return fmt.Sprintf("%v: %s until %s", e.Holder.IP, ErrAddressTaken, e.Holder.Expiry.UTC().Format(time.RFC3339))
}

func (e *TakenError) Unwrap() error { return ErrAddressTaken }

// writable reports whether c may be written over cur (nil: no record on
// the address) at now. Stores apply it inside their transaction.
func (c Change) writable(cur *Lease, now time.Time) bool {
	held := cur != nil && keyOfLease(*cur) == c.Client
	switch {
	case c.Ending:
		return held
	case c.Reserved, cur == nil, held:
		return true
	}
	return !cur.Active(now)
}

// split returns the change that binds a lease (nil when every change ends
// one) and the endings.
func split(changes []Change) (bind *Change, endings []Change, err error) {
	for i := range changes {
		switch {
		case changes[i].Ending:
			endings = append(endings, changes[i])
		case bind != nil:
			return nil, nil, errTwoBinds
		default:
			bind = &changes[i]
		}
	}
	return bind, endings, nil
}

// maxBatch bounds how many Commits share one transaction.
const maxBatch = 4096

// commitReq is one queued Commit, or one commitThen.
type commitReq struct {
	now     time.Time
	changes []Change
	errc    chan error  // Commit waits on it; nil for commitThen
	then    func(error) // commitThen's callback
	after   afterBatch  // commitThen's, told once its transaction's callbacks ran
}

// afterBatch is told, on the committer's goroutine, that the callbacks of
// one transaction have all run: what they queued can go out together.
type afterBatch interface{ flush() }

// groupCommitter runs a store's commits: callers queue them, and one
// goroutine writes everything queued since its last transaction as one
// transaction. Under load many Commits share one fsync; a lone Commit
// waits only for its own.
type groupCommitter struct {
	reqs chan commitReq
	done chan struct{}
	// write applies a batch as one transaction: it returns each request's
	// own outcome (nil or a *TakenError), or one error for them all when
	// the transaction failed.
	write func(batch []commitReq) ([]error, error)
	// observe is told each transaction's duration and number of Commits.
	observe func(d time.Duration, commits int)
}

func newGroupCommitter(write func([]commitReq) ([]error, error), observe func(time.Duration, int)) *groupCommitter {
	if observe == nil {
		observe = func(time.Duration, int) {}
	}
	g := &groupCommitter{reqs: make(chan commitReq, 1024), done: make(chan struct{}), write: write, observe: observe}
	go g.loop()
	return g
}

// commit queues changes and waits for their transaction.
func (g *groupCommitter) commit(ctx context.Context, now time.Time, changes []Change) error {
	r := commitReq{now: now, changes: changes, errc: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-g.done:
		return errors.New("lease store closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.errc:
		return err
	case <-ctx.Done():
		// The transaction may still commit: no ACK is sent for it, and
		// the client's retry finds its own record.
		return ctx.Err()
	}
}

// commitThen queues changes like commit but returns at once: then is
// called with their outcome after their transaction, on the committer's
// goroutine (so it must not commit, nor wait long), and after the
// callbacks of that transaction, after.flush once for each distinct after.
// The DHCP server sends the ACKs of one transaction that way, with one
// system call and no goroutine waiting per ACK. Like commit, it must not
// be called during or after close.
func (g *groupCommitter) commitThen(now time.Time, changes []Change, then func(error), after afterBatch) {
	g.reqs <- commitReq{now: now, changes: changes, then: then, after: after}
}

func (g *groupCommitter) loop() {
	defer close(g.done)
	var afters []afterBatch
	for first := range g.reqs {
		batch := []commitReq{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-g.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		start := time.Now()
		errs, err := g.write(batch)
		g.observe(time.Since(start), len(batch))
		afters = afters[:0]
		for i, r := range batch {
			rerr := err
			if err == nil {
				rerr = errs[i]
			}
			if r.then == nil {
				r.errc <- rerr
				continue
			}
			r.then(rerr)
			if r.after != nil && !slices.Contains(afters, r.after) {
				afters = append(afters, r.after)
			}
		}
		for _, a := range afters {
			a.flush()
		}
	}
}

// close lets queued commits finish and stops the goroutine. No commit may
// run concurrently with or after close.
func (g *groupCommitter) close() {
	close(g.reqs)
	<-g.done
}
