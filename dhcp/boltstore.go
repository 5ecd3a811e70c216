package dhcp

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrLeaseFileLocked means another process (usually a running bootsrv)
	// holds the lease file.
	ErrLeaseFileLocked = errors.New("lease file is locked by another process (is bootsrv already running?)")
	// ErrLeaseFileCorrupt means the lease file cannot be read. bootsrv never
	// wipes it: move it aside to start afresh.
	ErrLeaseFileCorrupt = errors.New("lease file is corrupt; move it aside to start with no leases")
)

// The lease file's buckets: IPv4 leases keyed by their 4-byte address,
// as since the first version, and IPv6 leases (DHCPv6) keyed by their
// 16-byte address in a bucket of their own, which older versions do not
// read.
var (
	leaseBucket  = []byte("leases")
	lease6Bucket = []byte("leases6")
)

// bucketOf is the bucket holding ip's record; nil when it does not exist
// (a file written before DHCPv6, opened read-only).
func bucketOf(tx *bolt.Tx, ip netip.Addr) *bolt.Bucket {
	if ip.Is4() {
		return tx.Bucket(leaseBucket)
	}
	return tx.Bucket(lease6Bucket)
}

// boltStore is the embedded LeaseStore: one bbolt file, for one server.
// Every commit is fsynced before Commit returns.
type boltStore struct {
	db   *bolt.DB
	path string
	gc   *groupCommitter
	once sync.Once
	err  error
	// failCommit, when set by tests, makes commits fail.
	failCommit func() error
}

// openBoltStore opens (creating if needed) the lease file. A locked or
// corrupt file is an error, never a fresh start. observe is told each
// transaction's duration and number of Commits; it may be nil.
func openBoltStore(path string, lockTimeout time.Duration, observe func(time.Duration, int)) (*boltStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("lease file %s: %w", path, err)
	}
	db, err := openBolt(path, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{leaseBucket, lease6Bucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("lease file %s: %w", path, err)
	}
	// Check the whole file once, so that damage shows now and not at the
	// first commit.
	if _, err := readAll(db, path); err != nil {
		db.Close()
		return nil, err
	}
	s := &boltStore{db: db, path: path}
	s.gc = newGroupCommitter(s.write, observe)
	return s, nil
}

// ReadLeases reads the lease file without changing it. It fails with
// ErrLeaseFileLocked within about a second when a running server holds the
// file; use the server's lease handler then.
func ReadLeases(path string) ([]Lease, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("lease file: %w", err)
	}
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return readAll(db, path)
}

func openBolt(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		// bbolt panics on some damaged pages; that is a corrupt file.
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%s: %w (%v)", path, ErrLeaseFileCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%s: %w", path, ErrLeaseFileLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%s: %w: %v", path, ErrLeaseFileCorrupt, err)
	case err != nil:
		// bbolt reports short or unreadable files with plain errors.
		return nil, fmt.Errorf("%s: %w: %v", path, ErrLeaseFileCorrupt, err)
	}
	return db, nil
}

// readAll checks the whole file's structure and decodes every lease.
func readAll(db *bolt.DB, path string) (leases []Lease, err error) {
	defer func() {
		if r := recover(); r != nil {
			leases, err = nil, fmt.Errorf("%s: %w (%v)", path, ErrLeaseFileCorrupt, r)
		}
	}()
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return fmt.Errorf("%s: %w: %v", path, ErrLeaseFileCorrupt, cerr)
		}
		b := tx.Bucket(leaseBucket)
		if b == nil {
			return fmt.Errorf("%s: %w: no %q bucket", path, ErrLeaseFileCorrupt, leaseBucket)
		}
		err := b.ForEach(func(k, v []byte) error {
			var l Lease
			if err := json.Unmarshal(v, &l); err != nil || len(k) != 4 || !l.IP.Is4() || l.IP != addr(binary.BigEndian.Uint32(k)) {
				return fmt.Errorf("%s: %w: bad record %x", path, ErrLeaseFileCorrupt, k)
			}
			leases = append(leases, l)
			return nil
		})
		if b6 := tx.Bucket(lease6Bucket); err == nil && b6 != nil {
			err = b6.ForEach(func(k, v []byte) error {
				var l Lease
				if err := json.Unmarshal(v, &l); err != nil || len(k) != 16 || !l.IP.Is6() || l.IP.Is4In6() ||
					l.IP != netip.AddrFrom16([16]byte(k)) {
					return fmt.Errorf("%s: %w: bad record %x", path, ErrLeaseFileCorrupt, k)
				}
				leases = append(leases, l)
				return nil
			})
		}
		return err
	})
	return leases, err
}

// List returns every record in the file.
func (s *boltStore) List(context.Context) ([]Lease, error) { return readAll(s.db, s.path) }

// ByAddr returns the record on ip.
func (s *boltStore) ByAddr(_ context.Context, ip netip.Addr) (l Lease, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		var cur *Lease
		cur, err = get(bucketOf(tx, ip), ip)
		if cur != nil {
			l, ok = *cur, true
		}
		return err
	})
	return l, ok, err
}

// ByClient scans the file for client k's latest record: a bbolt store has
// one writer, whose lease table already indexes every record by client.
func (s *boltStore) ByClient(ctx context.Context, k ClientKey) (Lease, bool, error) {
	all, err := s.List(ctx)
	if err != nil {
		return Lease{}, false, err
	}
	var best Lease
	found := false
	for _, l := range all {
		if keyOfLease(l) == k && (!found || best.Expiry.Before(l.Expiry)) {
			best, found = l, true
		}
	}
	return best, found, nil
}

// Commit writes changes in the committer's next transaction, fsynced.
func (s *boltStore) Commit(ctx context.Context, now time.Time, changes ...Change) error {
	return s.gc.commit(ctx, now, changes)
}

// commitThen is Commit without waiting: see groupCommitter.commitThen.
func (s *boltStore) commitThen(now time.Time, changes []Change, then func(error), after afterBatch) {
	s.gc.commitThen(now, changes, then, after)
}

// Expire deletes the records that ended before before.
func (s *boltStore) Expire(_ context.Context, before time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{leaseBucket, lease6Bucket} {
			b := tx.Bucket(name)
			var old [][]byte
			err := b.ForEach(func(k, v []byte) error {
				var l Lease
				if err := json.Unmarshal(v, &l); err != nil {
					return fmt.Errorf("%s: %w: bad record %x", s.path, ErrLeaseFileCorrupt, k)
				}
				if l.Expiry.Before(before) {
					old = append(old, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(old)
		}
		return nil
	})
	return n, err
}

// write applies a batch in one transaction, each request whole or not at
// all, in order.
func (s *boltStore) write(batch []commitReq) ([]error, error) {
	if s.failCommit != nil {
		if err := s.failCommit(); err != nil {
			return nil, err
		}
	}
	errs := make([]error, len(batch))
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, r := range batch {
			var err error
			if errs[i], err = apply(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	return errs, err
}

// apply writes one request's changes: its outcome (nil or a *TakenError),
// or an error that fails the transaction.
func apply(tx *bolt.Tx, r commitReq) (taken error, err error) {
	if _, _, err := split(r.changes); err != nil {
		return err, nil
	}
	curs := make([]*Lease, len(r.changes))
	for i, c := range r.changes {
		if curs[i], err = get(bucketOf(tx, c.Lease.IP), c.Lease.IP); err != nil {
			return nil, err
		}
		if !c.Ending && !c.writable(curs[i], r.now) {
			return &TakenError{Holder: *curs[i]}, nil
		}
	}
	for i, c := range r.changes {
		if !c.writable(curs[i], r.now) {
			continue
		}
		v, err := json.Marshal(c.Lease)
		if err != nil {
			return nil, err
		}
		if err := bucketOf(tx, c.Lease.IP).Put(c.Lease.IP.AsSlice(), v); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// get reads the record on ip from b (ip's bucket, nil when there is
// none), nil when there is none.
func get(b *bolt.Bucket, ip netip.Addr) (*Lease, error) {
	if !ip.IsValid() || ip.Is4In6() || ip.Zone() != "" {
		return nil, fmt.Errorf("lease address %v is neither IPv4 nor a plain IPv6 address", ip)
	}
	if b == nil {
		return nil, nil
	}
	k := ip.AsSlice()
	v := b.Get(k)
	if v == nil {
		return nil, nil
	}
	var l Lease
	if err := json.Unmarshal(v, &l); err != nil {
		return nil, fmt.Errorf("%w: bad record %x", ErrLeaseFileCorrupt, k)
	}
	return &l, nil
}

// Close stops the committer after queued commits and closes the file.
func (s *boltStore) Close() error {
	s.once.Do(func() {
		s.gc.close()
		s.err = s.db.Close()
	})
	return s.err
}
