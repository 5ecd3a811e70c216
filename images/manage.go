package images

import (
	"fmt"
	"os"
)

// Remove deletes the regular file (or symbolic link) name. Directories give
// ErrIsDir; use RemoveDir.
func (s *Store) Remove(name string) error { return s.removeEntry("remove", name, false) }

// Mkdir creates one directory. An existing entry gives ErrExists and a
// missing parent ErrNotFound.
func (s *Store) Mkdir(name string) error {
	n, err := cleanEntry(name)
	if err != nil {
		return err
	}
	if err := s.root.Mkdir(n, 0o755); err != nil {
		return s.mapErr(err)
	}
	return nil
}

// RemoveDir deletes the directory name if it is empty but for what
// interrupted uploads left there: hidden temporary and partial files that
// nothing is writing, which it removes first. Any other entry, or an
// upload being written there, gives ErrNotEmpty and removes nothing.
func (s *Store) RemoveDir(name string) error {
	n, err := cleanEntry(name)
	if err != nil {
		return err
	}
	if fi, err := s.root.Lstat(n); err != nil {
		return s.mapErr(err)
	} else if !fi.IsDir() {
		return fmt.Errorf("rmdir %s: %w", n, ErrNotDir)
	}
	// Held from the listing to rmdir, so that no upload starts in the
	// directory between the two.
	s.writing.mu.Lock()
	defer s.writing.mu.Unlock()
	if err := s.clearForRmdir(n); err != nil {
		return err
	}
	return s.removeEntry("rmdir", n, true)
}

// removeEntry deletes name after checking it is a directory exactly when
// dir is set, so neither call can remove the other kind of entry.
func (s *Store) removeEntry(op, name string, dir bool) error {
	n, err := cleanEntry(name)
	if err != nil {
		return err
	}
	fi, err := s.root.Lstat(n)
	if err != nil {
		return s.mapErr(err)
	}
	switch {
	case dir && !fi.IsDir():
		return fmt.Errorf("%s %s: %w", op, n, ErrNotDir)
	case !dir && fi.IsDir():
		return fmt.Errorf("%s %s: %w", op, n, ErrIsDir)
	}
	if err := s.root.Remove(n); err != nil {
		return fmt.Errorf("%s %s: %w", op, n, s.mapErr(err))
	}
	return nil
}

// Rename moves from to to inside the store. Unless overwrite is set it never
// replaces an existing entry: files move with link(2)+unlink, which fails
// atomically on an existing name (ErrExists); directories are checked first.
// With overwrite a file replaces the target with rename(2).
func (s *Store) Rename(from, to string, overwrite bool) error {
	f, err := cleanEntry(from)
	if err != nil {
		return err
	}
	t, err := cleanEntry(to)
	if err != nil {
		return err
	}
	fi, err := s.root.Lstat(f)
	if err != nil {
		return s.mapErr(err)
	}
	if fi.IsDir() || overwrite {
		if !overwrite || fi.IsDir() {
			if _, err := s.root.Lstat(t); err == nil {
				return fmt.Errorf("rename to %s: %w", t, ErrExists)
			}
		}
		if err := s.root.Rename(f, t); err != nil {
			return fmt.Errorf("rename %s: %w", f, s.mapErr(err))
		}
		return nil
	}
	if err := s.root.Link(f, t); err != nil {
		return fmt.Errorf("rename %s: %w", f, s.mapErr(err))
	}
	if err := s.root.Remove(f); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("rename %s: %w", f, s.mapErr(err))
	}
	return nil
}

// cleanEntry cleans a name that must not be the store root itself.
func cleanEntry(name string) (string, error) {
	n, err := Clean(name)
	if err != nil {
		return "", err
	}
	if n == "." {
		return "", fmt.Errorf("%w: the store root", ErrInvalidName)
	}
	return n, nil
}
