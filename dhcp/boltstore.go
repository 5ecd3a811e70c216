package dhcp

import (
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

// Lease is one address binding as kept in the lease file and listed by
// `bootsrv leases`.
type Lease struct {
	IP       netip.Addr `json:"ip"`
	MAC      string     `json:"mac,omitempty"`
	ClientID string     `json:"client_id,omitempty"` // option 61, hex
	Hostname string     `json:"hostname,omitempty"`
	Expiry   time.Time  `json:"expiry"`
	// Declined marks an address a client declined (RFC 2131 §4.3.3); it is
	// out of use until Expiry.
	Declined bool `json:"declined,omitempty"`
}

// Active reports whether the lease still holds its address at now.
func (l Lease) Active(now time.Time) bool { return now.Before(l.Expiry) }

var (
	// ErrLeaseFileLocked means another process (usually a running bootsrv)
	// holds the lease file.
	ErrLeaseFileLocked = errors.New("lease file is locked by another process (is bootsrv already running?)")
	// ErrLeaseFileCorrupt means the lease file cannot be read. bootsrv never
	// wipes it: move it aside to start afresh.
	ErrLeaseFileCorrupt = errors.New("lease file is corrupt; move it aside to start with no leases")
)

var leaseBucket = []byte("leases")

// maxBatch bounds how many lease writes share one transaction.
const maxBatch = 4096

// leaseStore makes leases durable. Writers hand leases to one committer
// goroutine, which puts everything queued since its last fsync into one
// transaction: under load many ACKs share one fsync (group commit), and a
// lone ACK waits only for its own.
type leaseStore struct {
	db      *bolt.DB
	reqs    chan commitReq
	done    chan struct{}
	observe func(time.Duration)
	once    sync.Once
	err     error
	// failCommit, when set by tests, makes commits fail.
	failCommit func() error
}

type commitReq struct {
	leases []Lease
	errc   chan error
}

// openLeaseStore opens (creating if needed) the lease file and returns the
// leases in it. A locked or corrupt file is an error, never a fresh start.
func openLeaseStore(path string, lockTimeout time.Duration, observe func(time.Duration)) (*leaseStore, []Lease, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("lease file %s: %w", path, err)
	}
	db, err := openBolt(path, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(leaseBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("lease file %s: %w", path, err)
	}
	leases, err := readAll(db, path)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if observe == nil {
		observe = func(time.Duration) {}
	}
	s := &leaseStore{db: db, reqs: make(chan commitReq, 1024), done: make(chan struct{}), observe: observe}
	go s.loop()
	return s, leases, nil
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
		return b.ForEach(func(k, v []byte) error {
			var l Lease
			if err := json.Unmarshal(v, &l); err != nil || len(k) != 4 || !l.IP.Is4() || l.IP != addr(binary.BigEndian.Uint32(k)) {
				return fmt.Errorf("%s: %w: bad record %x", path, ErrLeaseFileCorrupt, k)
			}
			leases = append(leases, l)
			return nil
		})
	})
	return leases, err
}

// put makes leases durable and returns once they are on disk.
func (s *leaseStore) put(leases ...Lease) error {
	r := commitReq{leases: leases, errc: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.done:
		return errors.New("lease store closed")
	}
	return <-r.errc
}

func (s *leaseStore) loop() {
	defer close(s.done)
	for first := range s.reqs {
		batch := []commitReq{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := s.commit(batch)
		for _, r := range batch {
			r.errc <- err
		}
	}
}

func (s *leaseStore) commit(batch []commitReq) error {
	start := time.Now()
	defer func() { s.observe(time.Since(start)) }()
	if s.failCommit != nil {
		if err := s.failCommit(); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(leaseBucket)
		for _, r := range batch {
			for _, l := range r.leases {
				v, err := json.Marshal(l)
				if err != nil {
					return err
				}
				k := l.IP.As4()
				if err := b.Put(k[:], v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// close stops the committer after queued commits and closes the file. No
// put may run concurrently with or after close.
func (s *leaseStore) close() error {
	s.once.Do(func() {
		close(s.reqs)
		<-s.done
		s.err = s.db.Close()
	})
	return s.err
}
