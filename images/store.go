package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Store is a directory tree served to clients. It is safe for concurrent
// use; every method takes client-supplied names and confines them itself.
type Store struct {
	dir  string
	root *os.Root
	// escape is the error os.Root gives for a path that leaves it (see
	// escapes), learned at Open; nil if this os gives an errno instead.
	escape  error
	uploads string // Options.Uploads, cleaned; "" for none
	// readAll: reads reach inside uploads (Options.UploadsReadable, or a
	// Trusted view).
	readAll bool
	log     zerolog.Logger
	// syncDir makes a directory entry change durable (fsyncDir); tests
	// replace it to make it fail.
	syncDir func(dir string) error
	// writeBehind is the window of uploads' write-behind (writebehind.go),
	// 0 for none, and syncRange its sync_file_range(2); tests replace
	// both.
	writeBehind int64
	syncRange   func(f *os.File, off, n int64, wait bool) error
	partialTTL  time.Duration
	writing     *writing // shared by Trusted views
}

// Options configure a Store. The zero value has no upload area.
type Options struct {
	// Uploads is the store folder where clients upload (TFTP writes,
	// anonymous FTP). Empty: none. It may not be the store root.
	Uploads string
	// UploadsReadable lets readers see inside Uploads. Default false: the
	// upload area is write-only. Open and Stat of a name inside it, and
	// List of it or below, answer ErrWriteOnly, which wraps ErrNotFound so
	// that TFTP (1), HTTP (404) and FTP (550) answer as for a missing file
	// and do not reveal which uploads exist. Only a Trusted view reads
	// there. The folder itself stays visible, so that clients can change
	// into it to upload.
	UploadsReadable bool
	// Log gets what the store cannot report to its caller: a directory
	// fsync that failed after an upload was already linked into place.
	// Zero value: discarded.
	Log zerolog.Logger
	// PartialTTL is how long a resumable partial upload (OpenPartial) is
	// kept after its last write. After that StatPartial no longer shows it,
	// OpenPartial starts it over and Sweep removes it. Zero or less:
	// DefaultPartialTTL (24h).
	PartialTTL time.Duration
}

// Open opens the store rooted at dir, which must exist, with at most one
// Options (none: the zero Options). The options are variadic so that the
// many callers that need no upload area, tests above all, keep Open(dir).
func Open(dir string, opts ...Options) (*Store, error) {
	var o Options
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		return nil, errors.New("open image store: more than one Options")
	}
	s := &Store{dir: dir, readAll: o.UploadsReadable, log: o.Log,
		partialTTL: o.PartialTTL, writing: newWriting()}
	if s.partialTTL <= 0 {
		s.partialTTL = DefaultPartialTTL
	}
	s.syncDir = s.fsyncDir
	s.writeBehind, s.syncRange = writeBehindWindow, syncFileRange
	if o.Uploads != "" {
		up, err := Clean(o.Uploads)
		if err != nil {
			return nil, fmt.Errorf("open image store: uploads folder: %w", err)
		}
		if up == "." {
			return nil, errors.New("open image store: the uploads folder is the store root")
		}
		s.uploads = up
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	s.root, s.escape = root, escapeError(root)
	return s, nil
}

// Trusted returns a view of the store whose reads also reach inside the
// upload area, for a client trusted to collect uploads (an FTP user with
// write permission). It shares the root with s: close only s.
func (s *Store) Trusted() *Store {
	t := *s
	t.readAll = true
	return &t
}

// hidden reports whether the cleaned name n is inside the upload area and
// this view may not read there; folder too when n may be the folder itself.
func (s *Store) hidden(n string, folder bool) bool {
	if s.readAll || s.uploads == "" {
		return false
	}
	return (folder && n == s.uploads) || strings.HasPrefix(n, s.uploads+"/")
}

// Close releases the root directory handle.
func (s *Store) Close() error { return s.root.Close() }

// Dir is the directory the store was opened on, for logs and diagnostics.
// It is never sent to clients.
func (s *Store) Dir() string { return s.dir }

// Open opens the regular file name for reading and returns it with its
// FileInfo. Directories give ErrIsDir; devices, FIFOs and sockets give
// ErrNotFound, so a FIFO in the store cannot block a server goroutine.
// Names inside a write-only upload area give ErrWriteOnly. This is the
// read path of every protocol (TFTP, HTTP, FTP downloads).
func (s *Store) Open(name string) (*os.File, fs.FileInfo, error) {
	n, err := Clean(name)
	if err != nil {
		return nil, nil, err
	}
	if s.hidden(n, false) {
		return nil, nil, fmt.Errorf("open %s: %w", n, ErrWriteOnly)
	}
	// O_NONBLOCK keeps open(2) of a FIFO from waiting for a writer; it has
	// no effect on regular files.
	f, err := s.root.OpenFile(n, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, s.mapErr(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, s.mapErr(err)
	}
	switch {
	case fi.IsDir():
		f.Close()
		return nil, nil, fmt.Errorf("open %s: %w", n, ErrIsDir)
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, nil, fmt.Errorf("open %s: not a regular file: %w", n, ErrNotFound)
	}
	return f, fi, nil
}

// Stat describes name, following symbolic links that stay inside the store.
// Names inside a write-only upload area give ErrWriteOnly.
func (s *Store) Stat(name string) (fs.FileInfo, error) {
	n, err := Clean(name)
	if err != nil {
		return nil, err
	}
	if s.hidden(n, false) {
		return nil, fmt.Errorf("stat %s: %w", n, ErrWriteOnly)
	}
	fi, err := s.root.Stat(n)
	if err != nil {
		return nil, s.mapErr(err)
	}
	return fi, nil
}

// List returns the entries of directory dir sorted by name. Temporary
// upload files are left out, and so are symbolic links that leave the store
// or dangle; links inside the store are described by their targets. A
// write-only upload area, and any folder in it, gives ErrWriteOnly.
func (s *Store) List(dir string) ([]fs.FileInfo, error) {
	n, err := Clean(dir)
	if err != nil {
		return nil, err
	}
	if s.hidden(n, true) {
		return nil, fmt.Errorf("list %s: %w", n, ErrWriteOnly)
	}
	d, err := s.root.Open(n)
	if err != nil {
		return nil, s.mapErr(err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("list %s: %w", n, ErrNotDir)
		}
		return nil, s.mapErr(err)
	}
	out := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			continue
		}
		var fi fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err = s.root.Stat(path.Join(n, e.Name()))
			if err != nil {
				continue
			}
			fi = renamed{fi, e.Name()}
		} else if fi, err = e.Info(); err != nil {
			continue // removed while listing
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// renamed reports a symbolic link's target under the link's own name.
type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }

// MkdirAll creates directory name and its parents inside the store.
func (s *Store) MkdirAll(name string) error {
	n, err := Clean(name)
	if err != nil {
		return err
	}
	if err := s.root.MkdirAll(n, 0o755); err != nil {
		return s.mapErr(err)
	}
	return nil
}

// mapErr turns file-system errors into the store's sentinel errors, keeping
// the original error in the chain for logs.
func (s *Store) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, syscall.ENOTEMPTY): // before ErrExist, which it matches
		return fmt.Errorf("%w: %w", ErrNotEmpty, err)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("%w: %w", ErrIsDir, err)
	case errors.Is(err, syscall.EFBIG):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, syscall.EROFS), errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	case s.escapes(err):
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return err
}

// escapes reports whether err is os.Root refusing a path that leaves the
// root (through ".." or a symbolic link) or loops. The kernel says ELOOP
// for a loop, and EXDEV where a root is implemented with openat2
// RESOLVE_BENEATH; Go's own check returns an error value the os package
// does not export (Go 1.26 has no errors.Is target for it). Matching its
// text would break silently if the wording changed, so the value itself is
// learned once per store by asking the root for ".." (escapeError), and
// recognised by identity.
func (s *Store) escapes(err error) bool {
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EXDEV) {
		return true
	}
	return s.escape != nil && errors.Is(err, s.escape)
}

// escapeError returns the error root gives for a name that leaves it, with
// its *fs.PathError wrapper removed. ".." is refused by os.Root before any
// system call, so the probe touches nothing. When the refusal is an errno
// (a future os.Root on openat2), escapes already knows it: nil.
func escapeError(root *os.Root) error {
	_, err := root.Lstat("..")
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return nil
	}
	var errno syscall.Errno
	if errors.As(pe.Err, &errno) {
		return nil
	}
	return pe.Err
}
