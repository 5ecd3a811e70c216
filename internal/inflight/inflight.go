// Package inflight keeps the transfers that are running now, with their
// progress, and the uploads that completed recently with who sent them,
// for the web console.
//
// It is a leaf (standard library only), like timeline/event, so that
// tftp/, ftp/ and the HTTP server report to it without importing the
// console or each other. A service is handed a *Registry in its config
// (nil: none) and, per transfer:
//
//	tr := reg.Start(inflight.Info{Service: "tftp", File: name, Peer: peer, Size: size})
//	defer tr.Done()
//	...
//	tr.Add(int64(n)) // per block or chunk: one atomic add
//
// Every method is safe on a nil *Registry and a nil *Transfer, so a
// service calls them without checking. Start and Done take one short lock
// each; Add takes none, so the per-block cost is an atomic add.
//
// The registry is bounded: past Config.MaxRunning transfers Start returns
// nil and the transfer runs untracked (counted in Dropped), and only the
// last MaxUploads completed uploads are remembered.
package inflight

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of New's bounds.
const (
	DefaultMaxRunning = 4096
	DefaultMaxUploads = 1024
)

// Info describes a transfer as it starts.
type Info struct {
	// Service is "tftp", "ftp" or "http".
	Service string
	// Upload is set for a file written by the client (TFTP WRQ, FTP STOR).
	Upload bool
	// File is the name as the image store sees it, as far as the service
	// knows it (TFTP: the name asked for, without a leading "/").
	File string
	// Peer is the client's address.
	Peer string
	// User is the FTP user name; empty for TFTP and HTTP.
	User string
	// Size is how many bytes the transfer will move; -1 when not known
	// (an upload, a netascii read).
	Size int64
}

// Transfer is one running transfer, as Start returned it.
type Transfer struct {
	reg     *Registry
	info    Info
	started time.Time
	bytes   atomic.Int64
	size    atomic.Int64
	idx     int // in reg.running; -1 once done
}

// Status is a running transfer as Running reports it.
type Status struct {
	Info
	Started time.Time
	// Bytes moved so far.
	Bytes int64
}

// Uploaded is an upload that completed.
type Uploaded struct {
	// Name is the file's name in the image store.
	Name    string
	Service string
	Peer    string
	User    string
	Bytes   int64
	At      time.Time
}

// Registry holds the running transfers and the recent uploads. Its zero
// value is not usable: call New.
type Registry struct {
	now func() time.Time

	mu      sync.Mutex
	max     int
	running []*Transfer
	dropped uint64

	uploads []Uploaded     // a ring of the last completed uploads
	next    int            // where the next one goes
	byName  map[string]int // name -> index in uploads
}

// New returns a registry that tracks at most maxRunning transfers at once
// and remembers the last maxUploads uploads; zero or less picks the
// defaults.
func New(maxRunning, maxUploads int) *Registry {
	if maxRunning <= 0 {
		maxRunning = DefaultMaxRunning
	}
	if maxUploads <= 0 {
		maxUploads = DefaultMaxUploads
	}
	return &Registry{now: time.Now, max: maxRunning, uploads: make([]Uploaded, 0, maxUploads), byName: map[string]int{}}
}

// Start tracks a new transfer. It returns nil (a transfer that reports
// nothing) when r is nil or already tracks its maximum.
func (r *Registry) Start(info Info) *Transfer {
	if r == nil {
		return nil
	}
	t := &Transfer{reg: r, info: info, started: r.now()}
	t.size.Store(info.Size)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.running) >= r.max {
		r.dropped++
		return nil
	}
	t.idx = len(r.running)
	r.running = append(r.running, t)
	return t
}

// Add counts n more bytes moved.
func (t *Transfer) Add(n int64) {
	if t != nil {
		t.bytes.Add(n)
	}
}

// SetSize records the size once the service learns it (an HTTP response's
// Content-Length).
func (t *Transfer) SetSize(n int64) {
	if t != nil {
		t.size.Store(n)
	}
}

// Done ends the transfer. Calling it again does nothing.
func (t *Transfer) Done() {
	if t == nil {
		return
	}
	r := t.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remove(t)
}

// Uploaded ends an upload that completed and was stored as name, and
// remembers who sent it.
func (t *Transfer) Uploaded(name string) {
	if t == nil {
		return
	}
	r := t.reg
	u := Uploaded{Name: name, Service: t.info.Service, Peer: t.info.Peer, User: t.info.User,
		Bytes: t.bytes.Load(), At: r.now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remove(t)
	r.remember(u)
}

// remove takes t out of running by moving the last one into its place;
// r.mu is held.
func (r *Registry) remove(t *Transfer) {
	i := t.idx
	if i < 0 {
		return
	}
	last := len(r.running) - 1
	r.running[i] = r.running[last]
	r.running[i].idx = i
	r.running[last] = nil
	r.running = r.running[:last]
	t.idx = -1
}

// remember puts u in the ring of uploads, over the oldest one when full;
// r.mu is held.
func (r *Registry) remember(u Uploaded) {
	if len(r.uploads) < cap(r.uploads) {
		r.byName[u.Name] = len(r.uploads)
		r.uploads = append(r.uploads, u)
		return
	}
	old := r.uploads[r.next]
	if r.byName[old.Name] == r.next {
		delete(r.byName, old.Name)
	}
	r.uploads[r.next] = u
	r.byName[u.Name] = r.next
	r.next = (r.next + 1) % len(r.uploads)
}

// Running returns the transfers running now, the longest-running first.
func (r *Registry) Running() []Status {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	out := make([]Status, len(r.running))
	for i, t := range r.running {
		out[i] = Status{Info: t.info, Started: t.started, Bytes: t.bytes.Load()}
		out[i].Size = t.size.Load()
	}
	r.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Status) int { return a.Started.Compare(b.Started) })
	return out
}

// Dropped is how many transfers ran untracked because the registry was
// full.
func (r *Registry) Dropped() uint64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Uploader returns who uploaded name (a name in the image store), if that
// upload is among the ones remembered.
func (r *Registry) Uploader(name string) (Uploaded, bool) {
	if r == nil {
		return Uploaded{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.byName[name]
	if !ok {
		return Uploaded{}, false
	}
	return r.uploads[i], true
}

// Uploads returns the remembered uploads, the most recent first.
func (r *Registry) Uploads() []Uploaded {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	out := slices.Clone(r.uploads)
	r.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Uploaded) int { return cmp.Compare(b.At.UnixNano(), a.At.UnixNano()) })
	return out
}
