package images

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestPartialResumeAndCommit(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"up/existing": "old"})
	p, err := s.OpenPartial("/up/fw.bin", "alice", 0)
	must(t, err)
	_, err = p.File().Write([]byte("hello "))
	must(t, err)
	must(t, p.Close()) // interrupted: kept for resume

	if _, _, err := s.Open("up/fw.bin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("partial visible under final name: %v", err)
	}
	if fi, err := s.StatPartial("up/fw.bin", "alice"); err != nil || fi.Size() != 6 || fi.Name() != "fw.bin" {
		t.Fatalf("StatPartial(alice) = %v, %v", fi, err)
	}
	if _, err := s.StatPartial("up/fw.bin", "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob sees alice's partial: %v", err)
	}
	list, err := s.List("up")
	must(t, err)
	if len(list) != 1 || list[0].Name() != "existing" {
		t.Fatalf("List shows partial: %v", list)
	}
	if _, err := s.OpenPartial("up/fw.bin", "alice", 7); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("offset past partial = %v, want ErrBadOffset", err)
	}
	p, err = s.OpenPartial("up/fw.bin", "alice", -1) // APPE
	must(t, err)
	_, err = p.File().Write([]byte("world"))
	must(t, err)
	must(t, p.Commit(false))
	must(t, p.Discard()) // no-op after commit
	data, err := os.ReadFile(filepath.Join(dir, "up/fw.bin"))
	must(t, err)
	if string(data) != "hello world" {
		t.Fatalf("committed %q", data)
	}
	assertNoTemp(t, filepath.Join(dir, "up"))

	// REST n + STOR keeps n bytes and rewrites the rest.
	p, err = s.OpenPartial("up/b", "alice", 0)
	must(t, err)
	p.File().Write([]byte("abcdef"))
	must(t, p.Close())
	p, err = s.OpenPartial("up/b", "alice", 3)
	must(t, err)
	p.File().Write([]byte("XY"))
	must(t, p.Commit(false))
	data, _ = os.ReadFile(filepath.Join(dir, "up/b"))
	if string(data) != "abcXY" {
		t.Fatalf("REST+STOR gave %q", data)
	}

	// No overwrite unless asked.
	p, err = s.OpenPartial("up/existing", "alice", 0)
	must(t, err)
	p.File().Write([]byte("new"))
	if err := p.Commit(false); !errors.Is(err, ErrExists) {
		t.Fatalf("commit over existing = %v, want ErrExists", err)
	}
	must(t, p.Discard())
	p, err = s.OpenPartial("up/existing", "alice", 0)
	must(t, err)
	p.File().Write([]byte("new"))
	must(t, p.Commit(true))
	data, _ = os.ReadFile(filepath.Join(dir, "up/existing"))
	if string(data) != "new" {
		t.Fatalf("overwrite gave %q", data)
	}
	assertNoTemp(t, filepath.Join(dir, "up"))
	if name := PartialName("up/x", "alice"); !strings.HasPrefix(filepath.Base(name), TempPrefix) {
		t.Fatalf("PartialName %q lacks TempPrefix", name)
	} else if _, err := Clean(name); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Clean(PartialName) = %v, want ErrInvalidName", err)
	}
}

func TestManage(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"a/f": "f", "a/g": "g", "b/.keep": ""})
	must(t, s.Mkdir("c"))
	if err := s.Mkdir("c"); !errors.Is(err, ErrExists) {
		t.Errorf("Mkdir twice = %v", err)
	}
	if err := s.Rename("a/f", "a/g", false); !errors.Is(err, ErrExists) {
		t.Errorf("Rename over file = %v, want ErrExists", err)
	}
	must(t, s.Rename("a/f", "c/f", false))
	if _, err := os.Stat(filepath.Join(dir, "a/f")); !os.IsNotExist(err) {
		t.Errorf("rename left source: %v", err)
	}
	if err := s.Rename("c", "b", false); !errors.Is(err, ErrExists) {
		t.Errorf("Rename dir over dir = %v, want ErrExists", err)
	}
	if err := s.RemoveDir("c"); err == nil {
		t.Errorf("RemoveDir of non-empty dir succeeded")
	}
	if err := s.Remove("c"); !errors.Is(err, ErrIsDir) {
		t.Errorf("Remove(dir) = %v, want ErrIsDir", err)
	}
	must(t, s.Remove("c/f"))
	must(t, s.RemoveDir("c"))
	if err := s.Remove("../x"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Remove(..) = %v", err)
	}
	if err := s.Remove("/"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Remove(/) = %v", err)
	}
}

// TestCommitAfterLink: once the final name is linked the upload is
// committed, so a failing directory fsync after it is logged, not
// returned: a client told "failed" would retry into ErrExists.
func TestCommitAfterLink(t *testing.T) {
	tests := map[string]func(s *Store) (commit func() error){
		"upload": func(s *Store) func() error {
			u, err := s.Create("up/f", 0)
			must(t, err)
			u.Write([]byte("data"))
			return u.Commit
		},
		"partial": func(s *Store) func() error {
			p, err := s.OpenPartial("up/f", "alice", 0)
			must(t, err)
			p.File().Write([]byte("data"))
			return func() error { return p.Commit(false) }
		},
		"partial overwrite": func(s *Store) func() error {
			p, err := s.OpenPartial("up/f", "alice", 0)
			must(t, err)
			p.File().Write([]byte("data"))
			return func() error { return p.Commit(true) }
		},
	}
	for name, start := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.Mkdir(filepath.Join(dir, "up"), 0o755))
			var logs strings.Builder
			s, err := Open(dir, Options{Log: zerolog.New(&logs)})
			must(t, err)
			defer s.Close()
			s.syncDir = func(string) error { return errors.New("EIO from the disk") }
			if err := start(s)(); err != nil {
				t.Fatalf("Commit = %v after the link was made, want nil", err)
			}
			if data, err := os.ReadFile(filepath.Join(dir, "up/f")); err != nil || string(data) != "data" {
				t.Fatalf("committed file: %q, %v", data, err)
			}
			if !strings.Contains(logs.String(), "EIO from the disk") {
				t.Errorf("the directory sync failure is not logged: %q", logs.String())
			}
			assertNoTemp(t, filepath.Join(dir, "up"))
		})
	}
}
