package images

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"
)

// DefaultPartialTTL is Options.PartialTTL when it is not set.
const DefaultPartialTTL = 24 * time.Hour

// Kinds of hidden file the store writes: a temporary upload (Create) and a
// resumable partial upload (PartialName).
const (
	tempUpload  = TempPrefix + "up-"
	tempPartial = TempPrefix + "part-"
)

// writing counts the hidden files that uploads of this process are
// writing, by cleaned store path, so that Sweep and RemoveDir leave them
// alone. Uploads register a name before they create the file, so a hidden
// file whose name is not registered is not being written by this process.
type writing struct {
	mu sync.Mutex
	n  map[string]int
}

func newWriting() *writing { return &writing{n: map[string]int{}} }

func (w *writing) add(name string) {
	w.mu.Lock()
	w.n[name]++
	w.mu.Unlock()
}

func (w *writing) done(name string) {
	w.mu.Lock()
	if w.n[name]--; w.n[name] <= 0 {
		delete(w.n, name)
	}
	w.mu.Unlock()
}

// busy reports whether name is being written; the caller holds w.mu.
func (w *writing) busy(name string) bool { return w.n[name] > 0 }

// expired reports whether a partial upload last written at mod is past
// its time to live.
func (s *Store) expired(mod time.Time) bool { return time.Since(mod) > s.partialTTL }

// SweepResult counts what one Sweep removed.
type SweepResult struct {
	Temp    int // temporary upload files no upload was writing
	Partial int // partial uploads past Options.PartialTTL
}

// Sweep removes what interrupted uploads left behind anywhere in the
// store: temporary upload files that no upload of this process is writing
// (after a crash, all of them) and partial uploads nobody is writing that
// were last written more than Options.PartialTTL ago. It walks the whole
// tree without following symbolic links or entering hidden folders it did
// not make. A file that goes away meanwhile is skipped; other errors do
// not stop the walk, and the first is returned with the counts.
func (s *Store) Sweep() (SweepResult, error) {
	var res SweepResult
	var first error
	note := func(err error) {
		if first == nil && err != nil && !errors.Is(err, fs.ErrNotExist) {
			first = err
		}
	}
	walkErr := fs.WalkDir(s.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			note(err)
			return nil
		}
		name := d.Name()
		switch {
		case !strings.HasPrefix(name, TempPrefix):
			return nil
		case d.IsDir():
			return fs.SkipDir
		case !d.Type().IsRegular():
			return nil
		}
		removed, err := s.removeStale(p)
		note(err)
		switch {
		case !removed:
		case strings.HasPrefix(name, tempPartial):
			res.Partial++
		default:
			res.Temp++
		}
		return nil
	})
	note(walkErr)
	if first != nil {
		return res, fmt.Errorf("sweep: %w", s.mapErr(first))
	}
	return res, nil
}

// removeStale removes the hidden file p (a cleaned store path) if nothing
// is writing it and, for a partial upload, if it has expired. Files of
// other hidden kinds are left alone.
func (s *Store) removeStale(p string) (bool, error) {
	s.writing.mu.Lock()
	defer s.writing.mu.Unlock()
	stale, err := s.staleLocked(p)
	if !stale || err != nil {
		return false, err
	}
	return true, s.root.Remove(p)
}

// staleLocked decides for removeStale and RemoveDir; s.writing.mu is held,
// so no upload can register p meanwhile.
func (s *Store) staleLocked(p string) (bool, error) {
	base := path.Base(p)
	if s.writing.busy(p) {
		return false, nil
	}
	switch {
	case strings.HasPrefix(base, tempUpload):
		return true, nil
	case strings.HasPrefix(base, tempPartial):
		fi, err := s.root.Lstat(p)
		if err != nil {
			return false, err
		}
		return s.expired(fi.ModTime()), nil
	}
	return false, nil
}

// clearForRmdir removes the hidden files interrupted uploads left in
// directory n, so that they never keep an administrator from removing it,
// but only if that empties it: any other entry, or an upload being written
// there, gives ErrNotEmpty and nothing is removed. A partial upload that
// has not expired goes too; its folder is being deleted by a user with
// write permission. s.writing.mu is held.
func (s *Store) clearForRmdir(n string) error {
	d, err := s.root.Open(n)
	if err != nil {
		return s.mapErr(err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return s.mapErr(err)
	}
	var hidden []string
	for _, e := range entries {
		p := path.Join(n, e.Name())
		if !strings.HasPrefix(e.Name(), TempPrefix) || !e.Type().IsRegular() {
			return fmt.Errorf("rmdir %s: %w", n, ErrNotEmpty)
		}
		if s.writing.busy(p) {
			return fmt.Errorf("rmdir %s: upload in progress: %w", n, ErrNotEmpty)
		}
		hidden = append(hidden, p)
	}
	for _, p := range hidden {
		if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rmdir %s: %w", n, s.mapErr(err))
		}
	}
	return nil
}
