package images

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// ErrBadOffset: a resumed upload asked to continue past the bytes the
// store holds for it.
var ErrBadOffset = errors.New("resume offset beyond partial upload")

// Partial is a resumable upload owned by one user. Its data lives under a
// deterministic hidden name derived from the owner and the final name
// (PartialName), so the same user can come back after an interruption, ask
// its size and continue, while Clean refuses and List hides the name for
// everyone else and every other protocol. Commit links it into place;
// Close keeps it for a later resume; Discard removes it.
type Partial struct {
	store *Store
	name  string // final name, cleaned
	temp  string // partial name, cleaned
	f     *os.File
	done  bool
	moved bool // committed: the partial name no longer exists
	freed bool // no longer counted in store.writing
	// synced describes the file when Sync last flushed it; writes may go
	// through File, so Commit compares size and mtime to tell whether
	// anything was written since.
	synced fs.FileInfo
	wb     writeBehind // of what goes through Write and ReadFrom
}

// release stops counting the partial as being written, once.
func (p *Partial) release() {
	if !p.freed {
		p.freed = true
		p.store.writing.done(p.temp)
	}
}

// PartialName is the hidden store path holding owner's partial upload of
// the cleaned name. The owner is hashed in so that users cannot guess or
// collide with each other's partial files.
func PartialName(name, owner string) string {
	sum := sha256.Sum256([]byte(owner + "\x00" + name))
	return path.Join(path.Dir(name), TempPrefix+"part-"+hex.EncodeToString(sum[:16]))
}

// StatPartial describes owner's partial upload of name, under name's base
// name, or fails with ErrNotFound.
func (s *Store) StatPartial(name, owner string) (fs.FileInfo, error) {
	n, err := cleanEntry(name)
	if err != nil {
		return nil, err
	}
	fi, err := s.root.Lstat(PartialName(n, owner))
	if err != nil {
		return nil, s.mapErr(err)
	}
	if !fi.Mode().IsRegular() || s.expired(fi.ModTime()) {
		return nil, fmt.Errorf("partial %s: %w", n, ErrNotFound)
	}
	return renamed{fi, path.Base(n)}, nil
}

// OpenPartial opens owner's partial upload of name for writing, creating it
// when missing. offset >= 0 keeps that many bytes and writes from there
// (0 starts over; more than the partial holds gives ErrBadOffset); offset <
// 0 appends after what is there. A partial past Options.PartialTTL counts
// as empty. The directory of name must exist.
func (s *Store) OpenPartial(name, owner string, offset int64) (*Partial, error) {
	n, err := cleanEntry(name)
	if err != nil {
		return nil, err
	}
	temp := PartialName(n, owner)
	s.writing.add(temp)
	f, err := s.root.OpenFile(temp, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		s.writing.done(temp)
		return nil, fmt.Errorf("partial %s: %w", n, s.mapErr(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("partial %s: %w", n, ErrInvalidName)
	}
	if err == nil {
		size := fi.Size()
		if s.expired(fi.ModTime()) {
			size = 0
		}
		switch {
		case offset < 0:
			offset = size
		case offset > size:
			err = fmt.Errorf("partial %s: %d > %d: %w", n, offset, size, ErrBadOffset)
		}
	}
	if err == nil {
		if err = f.Truncate(offset); err == nil {
			_, err = f.Seek(offset, io.SeekStart)
		}
	}
	if err != nil {
		f.Close()
		s.writing.done(temp)
		return nil, s.mapErr(err)
	}
	return &Partial{store: s, name: n, temp: temp, f: f, wb: s.newWriteBehind(f)}, nil
}

// Name is the cleaned final name.
func (p *Partial) Name() string { return p.name }

// File is the open partial file, positioned where writing continues.
// Writes are better made with Write and ReadFrom, which keep the
// write-behind (writebehind.go) going.
func (p *Partial) File() *os.File { return p.f }

// Write writes p where writing continues; a full file system returns
// ErrNoSpace.
func (p *Partial) Write(b []byte) (int, error) {
	if p.done {
		return 0, os.ErrClosed
	}
	n, err := p.f.Write(b)
	if err == nil {
		err = p.wb.wrote(int64(n))
	}
	return n, p.store.mapErr(err)
}

// ReadFrom writes what r yields until EOF. From a TCP socket the kernel
// splices the data into the file (no copy through user space). The
// write-behind steps between calls, so a caller receiving a large file
// passes r in pieces of a few MiB or less, as FTP does.
func (p *Partial) ReadFrom(r io.Reader) (int64, error) {
	if p.done {
		return 0, os.ErrClosed
	}
	n, err := p.f.ReadFrom(r)
	if err == nil {
		err = p.wb.wrote(n)
	}
	return n, p.store.mapErr(err)
}

// Commit makes the upload visible under its final name: fsync, then link(2)
// (ErrExists if the name is taken) or, with overwrite, rename(2) over it.
// The partial name is gone afterwards. Once the final name is in place
// Commit returns nil: a failure to remove the partial name or to sync the
// directory after that is logged, not reported (see Store.linked).
func (p *Partial) Commit(overwrite bool) error {
	if p.done {
		return os.ErrClosed
	}
	p.done = true
	defer p.release()
	if err := p.sync(); err != nil {
		p.f.Close()
		return fmt.Errorf("commit %s: %w", p.name, err)
	}
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("commit %s: %w", p.name, p.store.mapErr(err))
	}
	if overwrite {
		if err := p.store.root.Rename(p.temp, p.name); err != nil {
			return fmt.Errorf("commit %s: %w", p.name, p.store.mapErr(err))
		}
	} else {
		if err := p.store.root.Link(p.temp, p.name); err != nil {
			return fmt.Errorf("commit %s: %w", p.name, p.store.mapErr(err))
		}
		if err := p.store.root.Remove(p.temp); err != nil {
			// Committed all the same; the partial name stays, hidden.
			p.store.log.Warn().Err(err).Str("file", p.name).Msg("committed upload left its partial file behind")
		}
	}
	p.moved = true
	p.store.linked(p.name)
	return nil
}

// Sync flushes the partial data to disk, so that a caller can overlap the
// flush with something else it must wait for before it commits. Commit
// right after Sync, with nothing written in between, does not flush again.
func (p *Partial) Sync() error {
	if p.done {
		return os.ErrClosed
	}
	return p.sync()
}

func (p *Partial) sync() error {
	if err := p.wb.check(); err != nil {
		return fmt.Errorf("sync %s: %w", p.name, p.store.mapErr(err))
	}
	if p.synced != nil {
		if fi, err := p.f.Stat(); err == nil && fi.Size() == p.synced.Size() && fi.ModTime().Equal(p.synced.ModTime()) {
			return nil
		}
	}
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p.name, p.store.mapErr(err))
	}
	p.synced, _ = p.f.Stat() // nil on error: the next sync flushes
	return nil
}

// Close keeps the partial data for a later resume. It does nothing after
// Commit or Discard, so callers can defer it.
func (p *Partial) Close() error {
	if p.done {
		return nil
	}
	p.done = true
	defer p.release()
	return p.store.mapErr(p.f.Close())
}

// Discard removes the partial data.
func (p *Partial) Discard() error {
	if p.moved {
		return nil
	}
	defer p.release()
	if p.done {
		return p.store.mapErr(p.store.root.Remove(p.temp))
	}
	p.done = true
	return errors.Join(p.f.Close(), p.store.mapErr(p.store.root.Remove(p.temp)))
}
