package images

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// newTestStore makes a store in a temporary directory holding the given
// files (name -> content) and returns it with the directory path.
func newTestStore(t *testing.T, files map[string]string) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func TestOpenConfinement(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"boot/pxelinux.0": "pxe", "inside.txt": "in"})
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink(outside, filepath.Join(dir, "escape-abs")))
	must(t, os.Symlink("../../../../../../etc/passwd", filepath.Join(dir, "escape-rel")))
	must(t, os.Symlink("inside.txt", filepath.Join(dir, "alias")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))

	tests := map[string]struct {
		name string
		want string
		err  error
	}{
		"file":            {name: "/boot/pxelinux.0", want: "pxe"},
		"windows name":    {name: `\boot\pxelinux.0`, want: "pxe"},
		"inside symlink":  {name: "alias", want: "in"},
		"absolute escape": {name: "escape-abs", err: ErrInvalidName},
		"relative escape": {name: "escape-rel", err: ErrInvalidName},
		"dotdot":          {name: "../etc/passwd", err: ErrInvalidName},
		"missing":         {name: "nope", err: ErrNotFound},
		"directory":       {name: "boot", err: ErrIsDir},
		"fifo":            {name: "fifo", err: ErrNotFound},
		"under a file":    {name: "inside.txt/x", err: ErrNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f, _, err := s.Open(tc.name)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Open(%q) error = %v, want %v", tc.name, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.name, err)
			}
			defer f.Close()
			got, _ := io.ReadAll(f)
			if string(got) != tc.want {
				t.Fatalf("Open(%q) read %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestListHidesTempAndEscapes(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"b.bin": "b", "a.bin": "a", TempPrefix + "up-x": "partial"})
	must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "escape")))
	must(t, os.Symlink("a.bin", filepath.Join(dir, "c-link")))
	got, err := s.List("/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range got {
		names = append(names, fi.Name())
	}
	want := []string{"a.bin", "b.bin", "c-link"}
	if len(names) != len(want) {
		t.Fatalf("List = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("List = %v, want %v", names, want)
		}
	}
	if !got[2].Mode().IsRegular() || got[2].Size() != 1 {
		t.Errorf("link entry should describe its target, got mode %v size %d", got[2].Mode(), got[2].Size())
	}
	if _, err := s.List("a.bin"); !errors.Is(err, ErrNotDir) {
		t.Errorf("List(file) = %v, want ErrNotDir", err)
	}
}

func TestUploadCommitIsAtomicAndNeverOverwrites(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"incoming/existing": "old"})
	u, err := s.Create("incoming/new.cfg", 0)
	must(t, err)
	_, err = u.Write([]byte("hello "))
	must(t, err)
	if _, err := os.Stat(filepath.Join(dir, "incoming/new.cfg")); !os.IsNotExist(err) {
		t.Fatalf("upload visible before commit: %v", err)
	}
	if _, _, err := s.Open("incoming/new.cfg"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open during upload = %v, want ErrNotFound", err)
	}
	_, err = u.Write([]byte("world"))
	must(t, err)
	must(t, u.Commit())
	must(t, u.Abort()) // no-op after commit
	data, err := os.ReadFile(filepath.Join(dir, "incoming/new.cfg"))
	must(t, err)
	if string(data) != "hello world" {
		t.Fatalf("committed %q", data)
	}

	if _, err := s.Create("incoming/existing", 0); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over existing = %v, want ErrExists", err)
	}
	// Two uploads racing for one name: the second commit loses cleanly.
	a, err := s.Create("incoming/race", 0)
	must(t, err)
	b, err := s.Create("incoming/race", 0)
	must(t, err)
	a.Write([]byte("first"))
	b.Write([]byte("second"))
	must(t, a.Commit())
	if err := b.Commit(); !errors.Is(err, ErrExists) {
		t.Fatalf("second commit = %v, want ErrExists", err)
	}
	data, _ = os.ReadFile(filepath.Join(dir, "incoming/race"))
	if string(data) != "first" {
		t.Fatalf("race winner overwritten: %q", data)
	}
	assertNoTemp(t, filepath.Join(dir, "incoming"))
}

func TestUploadAbortAndLimits(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"incoming/.keep": ""})
	u, err := s.Create("incoming/big", 8)
	must(t, err)
	_, err = u.Write(bytes.Repeat([]byte("x"), 5))
	must(t, err)
	if _, err := u.Write([]byte("yyyy")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("write past cap = %v, want ErrTooLarge", err)
	}
	must(t, u.Abort())
	if _, err := os.Stat(filepath.Join(dir, "incoming/big")); !os.IsNotExist(err) {
		t.Fatalf("aborted upload visible: %v", err)
	}
	assertNoTemp(t, filepath.Join(dir, "incoming"))
	if _, err := s.Create("nodir/x", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Create in missing dir = %v, want ErrNotFound", err)
	}
	if _, err := s.Create("../x", 0); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Create with .. = %v, want ErrInvalidName", err)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, TempPrefix+"*"))
	if len(matches) != 0 {
		t.Fatalf("temporary files left behind: %v", matches)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestUploadReadFrom(t *testing.T) {
	tests := map[string]struct {
		max     int64
		src     func() io.Reader
		wantErr error
		want    int64 // bytes taken
		restN   int64 // for a LimitedReader source: N afterwards
	}{
		"no cap":            {max: 0, src: func() io.Reader { return strings.NewReader("0123456789") }, want: 10},
		"fills the cap":     {max: 10, src: func() io.Reader { return strings.NewReader("0123456789") }, want: 10},
		"one byte too many": {max: 9, src: func() io.Reader { return strings.NewReader("0123456789") }, wantErr: ErrTooLarge, want: 10},
		"caller's limit is kept": {max: 100, want: 4, restN: 0,
			src: func() io.Reader { return &io.LimitedReader{R: strings.NewReader("0123456789"), N: 4} }},
		"narrowed in place and restored": {max: 3, wantErr: ErrTooLarge, want: 4, restN: 6,
			src: func() io.Reader { return &io.LimitedReader{R: strings.NewReader("0123456789"), N: 10} }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := newTestStore(t, map[string]string{"incoming/.keep": ""})
			u, err := s.Create("incoming/f", tc.max)
			must(t, err)
			defer u.Abort()
			src := tc.src()
			n, err := u.ReadFrom(src)
			if !errors.Is(err, tc.wantErr) || n != tc.want || u.Written() != tc.want {
				t.Fatalf("ReadFrom = %d, %v (written %d); want %d, %v", n, err, u.Written(), tc.want, tc.wantErr)
			}
			if lr, ok := src.(*io.LimitedReader); ok && lr.N != tc.restN {
				t.Errorf("caller's LimitedReader N = %d, want %d", lr.N, tc.restN)
			}
		})
	}
}

// TestEscapesByIdentity: os.Root's refusal of a path that leaves the root
// is recognised by the error value os returns, never by its wording.
func TestEscapesByIdentity(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"in": "in"})
	must(t, os.Symlink("../../../../../../etc/passwd", filepath.Join(dir, "out")))
	if s.escape == nil {
		t.Fatal("no escape error learned at Open")
	}
	var errno syscall.Errno
	if errors.As(s.escape, &errno) {
		t.Fatalf("escape error %v is an errno", s.escape)
	}
	_, err := s.root.Open("out")
	if !errors.Is(err, s.escape) {
		t.Fatalf("symlink escape %v is not the learned error %v", err, s.escape)
	}
	tests := map[string]struct {
		err     error
		invalid bool
	}{
		"symlink escape": {err, true},
		"loop":           {&fs.PathError{Op: "openat", Path: "x", Err: syscall.ELOOP}, true},
		"look-alike text": {&fs.PathError{Op: "openat", Path: "x",
			Err: errors.New(s.escape.Error())}, false},
		"other error": {&fs.PathError{Op: "openat", Path: "x", Err: syscall.EIO}, false},
	}
	for name, tc := range tests {
		if got := errors.Is(s.mapErr(tc.err), ErrInvalidName); got != tc.invalid {
			t.Errorf("%s: mapErr(%v) is ErrInvalidName = %v, want %v", name, tc.err, got, tc.invalid)
		}
	}
}

// TestSyncThenCommit: Sync flushes ahead of Commit, and a write after it
// is still flushed and committed.
func TestSyncThenCommit(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"up/.keep": ""})
	u, err := s.Create("up/a", 0)
	must(t, err)
	u.Write([]byte("one "))
	must(t, u.Sync())
	if !u.synced {
		t.Fatal("Upload not marked synced")
	}
	u.Write([]byte("two"))
	if u.synced {
		t.Fatal("a write after Sync left the upload marked synced")
	}
	must(t, u.Commit())
	if err := u.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Sync after Commit = %v, want os.ErrClosed", err)
	}
	p, err := s.OpenPartial("up/b", "alice", 0)
	must(t, err)
	p.File().Write([]byte("one "))
	must(t, p.Sync())
	p.File().Write([]byte("two"))
	must(t, p.Commit(false))
	for name, want := range map[string]string{"up/a": "one two", "up/b": "one two"} {
		if data, _ := os.ReadFile(filepath.Join(dir, name)); string(data) != want {
			t.Errorf("%s = %q, want %q", name, data, want)
		}
	}
}
