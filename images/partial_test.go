package images

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
