package images

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// Upload is a file being written into the store. Data goes to a hidden
// temporary file beside the final name; Commit makes it visible atomically
// and Abort throws it away. Exactly one of them must be called.
type Upload struct {
	store   *Store
	name    string // final name, cleaned
	temp    string // temporary name, cleaned
	f       *os.File
	max     int64
	written int64
	done    bool
	synced  bool // flushed, and nothing written since
	wb      writeBehind
}

// Create starts an upload to name. It fails with ErrExists when name is
// already taken and with ErrNotFound when its directory does not exist.
// maxSize caps the bytes written; zero or less means no cap.
func (s *Store) Create(name string, maxSize int64) (*Upload, error) {
	n, err := Clean(name)
	if err != nil {
		return nil, err
	}
	if n == "." {
		return nil, fmt.Errorf("create: %w", ErrIsDir)
	}
	if _, err := s.root.Lstat(n); err == nil {
		return nil, fmt.Errorf("create %s: %w", n, ErrExists)
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	temp := path.Join(path.Dir(n), tempUpload+hex.EncodeToString(rnd[:]))
	s.writing.add(temp) // before the file exists: Sweep must never see it unclaimed
	f, err := s.root.OpenFile(temp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		s.writing.done(temp)
		return nil, fmt.Errorf("create %s: %w", n, s.mapErr(err))
	}
	return &Upload{store: s, name: n, temp: temp, f: f, max: maxSize, wb: s.newWriteBehind(f)}, nil
}

// Name is the cleaned final name of the upload.
func (u *Upload) Name() string { return u.name }

// Written is the number of bytes written so far.
func (u *Upload) Written() int64 { return u.written }

// Write appends p. Going past the size cap writes nothing and returns
// ErrTooLarge; a full file system returns ErrNoSpace.
func (u *Upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, os.ErrClosed
	}
	if u.max > 0 && u.written+int64(len(p)) > u.max {
		return 0, fmt.Errorf("upload %s: over %d bytes: %w", u.name, u.max, ErrTooLarge)
	}
	n, err := u.f.Write(p)
	u.written += int64(n)
	u.synced = u.synced && n == 0
	if err == nil {
		err = u.wb.wrote(int64(n))
	}
	if err != nil {
		return n, u.store.mapErr(err)
	}
	return n, nil
}

// ReadFrom appends what r yields until EOF. From a TCP socket the kernel
// splices the data into the file (no copy through user space). Going past
// the size cap returns ErrTooLarge, after which the upload must be aborted.
// The write-behind (writebehind.go) steps between calls, so a caller
// receiving a large file passes r in pieces of a few MiB or less, as FTP
// does.
func (u *Upload) ReadFrom(r io.Reader) (int64, error) {
	if u.done {
		return 0, os.ErrClosed
	}
	src, undo := u.limit(r)
	n, err := u.f.ReadFrom(src)
	undo()
	u.written += n
	u.synced = u.synced && n == 0
	if err == nil {
		err = u.wb.wrote(n)
	}
	if err != nil {
		return n, u.store.mapErr(err)
	}
	if u.max > 0 && u.written > u.max {
		return n, fmt.Errorf("upload %s: over %d bytes: %w", u.name, u.max, ErrTooLarge)
	}
	return n, nil
}

// limit caps r at one byte past the size cap, which tells an oversized
// upload from one that fills the cap exactly, and returns a function that
// undoes it. A reader that is already an *io.LimitedReader is narrowed in
// place rather than wrapped, because the kernel splice path of
// (*os.File).ReadFrom sees through one LimitedReader only.
func (u *Upload) limit(r io.Reader) (io.Reader, func()) {
	if u.max <= 0 {
		return r, func() {}
	}
	room := u.max - u.written + 1
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		return &io.LimitedReader{R: r, N: room}, func() {}
	}
	if lr.N <= room {
		return lr, func() {}
	}
	rest := lr.N - room // what the caller's limit allows beyond ours
	lr.N = room
	return lr, func() { lr.N += rest }
}

// Commit flushes the data to disk and links it into place under its final
// name. link(2) never replaces an existing file, so an upload that lost a
// race for its name fails with ErrExists and leaves the winner intact.
// Once the link is made the upload is committed and Commit returns nil,
// even if the directory fsync that follows fails (see linked).
func (u *Upload) Commit() error {
	if u.done {
		return os.ErrClosed
	}
	u.done = true
	defer func() {
		u.store.root.Remove(u.temp)
		u.store.writing.done(u.temp)
	}()
	if err := u.sync(); err != nil {
		u.f.Close()
		return fmt.Errorf("commit %s: %w", u.name, err)
	}
	if err := u.f.Close(); err != nil {
		return fmt.Errorf("commit %s: %w", u.name, u.store.mapErr(err))
	}
	if err := u.store.root.Link(u.temp, u.name); err != nil {
		return fmt.Errorf("commit %s: %w", u.name, u.store.mapErr(err))
	}
	u.store.linked(u.name)
	return nil
}

// Sync flushes what was written so far to disk, so that a caller can
// overlap the flush with something else it must wait for before it
// commits. Commit right after Sync does not flush again.
func (u *Upload) Sync() error {
	if u.done {
		return os.ErrClosed
	}
	return u.sync()
}

func (u *Upload) sync() error {
	if err := u.wb.check(); err != nil {
		return fmt.Errorf("sync %s: %w", u.name, u.store.mapErr(err))
	}
	if u.synced {
		return nil
	}
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", u.name, u.store.mapErr(err))
	}
	u.synced = true
	return nil
}

// Abort discards the upload. It is safe to call after Commit, where it does
// nothing, so callers can defer it.
func (u *Upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	cerr := u.f.Close()
	rerr := u.store.root.Remove(u.temp)
	u.store.writing.done(u.temp)
	return errors.Join(cerr, rerr)
}

// linked finishes a commit whose link(2) succeeded: the file is in place
// and readable, so the commit has happened and a failure here must not be
// reported as a failed upload (the client would retry into ErrExists).
// The directory fsync only makes the new entry survive a power cut; if it
// fails, the store logs it instead.
func (s *Store) linked(name string) {
	dir := path.Dir(name)
	if err := s.syncDir(dir); err != nil {
		s.log.Error().Err(err).Str("file", name).
			Msg("upload committed, but its directory could not be synced: it may not survive a crash")
	}
}

// fsyncDir makes a directory entry change durable.
func (s *Store) fsyncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return s.mapErr(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, s.mapErr(err))
	}
	return nil
}
