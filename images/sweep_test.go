package images

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// hiddenFiles lists every TempPrefix entry below dir, relative to it.
func hiddenFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), TempPrefix) {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func age(t *testing.T, p string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	must(t, os.Chtimes(p, old, old))
}

// TestSweep: at start-up every temporary file and every expired partial
// goes; later sweeps spare what uploads are writing and partials that can
// still be resumed; other hidden things are not the store's to remove.
func TestSweep(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{
		"a/" + tempUpload + "crash1":     "x",
		"b/c/" + tempUpload + "crash2":   "x",
		"a/" + tempPartial + "old":       "x",
		"a/" + tempPartial + "fresh":     "x",
		"a/" + TempPrefix + "other":      "x",
		TempPrefix + "dir/" + tempUpload: "x",
		"a/visible":                      "x",
	})
	age(t, filepath.Join(dir, "a", tempPartial+"old"), 25*time.Hour)
	must(t, os.Symlink("visible", filepath.Join(dir, "a", tempUpload+"link")))

	// Uploads in flight, one of them a partial last written long ago.
	up, err := s.Create("a/new", 0)
	must(t, err)
	part, err := s.OpenPartial("a/resumed", "alice", 0)
	must(t, err)
	age(t, filepath.Join(dir, PartialName("a/resumed", "alice")), 25*time.Hour)

	res, err := s.Sweep()
	must(t, err)
	if res != (SweepResult{Temp: 2, Partial: 1}) {
		t.Fatalf("start-up sweep = %+v, want 2 temp, 1 partial", res)
	}
	want := []string{
		TempPrefix + "dir", TempPrefix + "dir/" + tempUpload, "a/" + TempPrefix + "other",
		filepath.ToSlash(PartialName("a/resumed", "alice")), "a/" + tempPartial + "fresh",
		"a/" + tempUpload + "link", up.temp,
	}
	sort.Strings(want)
	if got := hiddenFiles(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after the sweep:\n got %v\nwant %v", got, want)
	}

	// The uploads end: the temporary file goes with its upload, and the
	// interrupted partial stays until it expires, then the next sweep
	// removes it.
	must(t, up.Abort())
	part.File().Write([]byte("more")) // a write makes the partial fresh again
	must(t, part.Close())
	res, err = s.Sweep()
	must(t, err)
	if res != (SweepResult{Temp: 0, Partial: 0}) {
		t.Fatalf("second sweep = %+v, want nothing", res)
	}
	age(t, filepath.Join(dir, PartialName("a/resumed", "alice")), 25*time.Hour)
	res, err = s.Sweep()
	must(t, err)
	if res != (SweepResult{Partial: 1}) {
		t.Fatalf("sweep after expiry = %+v, want 1 partial", res)
	}
}

func TestPartialExpiry(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "up"), 0o755))
	s, err := Open(dir, Options{PartialTTL: time.Hour})
	must(t, err)
	defer s.Close()
	p, err := s.OpenPartial("up/f", "alice", 0)
	must(t, err)
	p.File().Write([]byte("abcdef"))
	must(t, p.Close())
	if fi, err := s.StatPartial("up/f", "alice"); err != nil || fi.Size() != 6 {
		t.Fatalf("fresh partial: %v, %v", fi, err)
	}
	age(t, filepath.Join(dir, PartialName("up/f", "alice")), 2*time.Hour)
	if _, err := s.StatPartial("up/f", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired partial: StatPartial = %v, want ErrNotFound", err)
	}
	if _, err := s.OpenPartial("up/f", "alice", 3); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("REST into an expired partial = %v, want ErrBadOffset", err)
	}
	p, err = s.OpenPartial("up/f", "alice", -1) // APPE starts over
	must(t, err)
	p.File().Write([]byte("xyz"))
	must(t, p.Commit(false))
	if data, _ := os.ReadFile(filepath.Join(dir, "up/f")); string(data) != "xyz" {
		t.Fatalf("APPE onto an expired partial gave %q, want xyz", data)
	}
}

// TestRemoveDirStaleFiles: what interrupted uploads leave never blocks
// RMD, but an upload in progress does, and so does anything visible; then
// nothing is removed.
func TestRemoveDirStaleFiles(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{
		"stale/" + tempUpload + "crash": "x",
		"stale/" + tempPartial + "p":    "x",
		"busy/" + tempUpload + "crash":  "x",
		"full/" + tempUpload + "crash":  "x",
		"full/file":                     "x",
		"file":                          "x",
	})
	up, err := s.Create("busy/new", 0)
	must(t, err)
	defer up.Abort()
	tests := map[string]struct {
		name    string
		err     error
		remains int // hidden files left in the folder
	}{
		"stale files only": {"stale", nil, 0},
		"upload writing":   {"busy", ErrNotEmpty, 2},
		"visible entry":    {"full", ErrNotEmpty, 1},
		"not a directory":  {"file", ErrNotDir, 0},
		"missing":          {"nope", ErrNotFound, 0},
	}
	for name, tc := range tests {
		err := s.RemoveDir(tc.name)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: RemoveDir = %v, want %v", name, err, tc.err)
		}
		matches, _ := filepath.Glob(filepath.Join(dir, tc.name, TempPrefix+"*"))
		if len(matches) != tc.remains {
			t.Errorf("%s: %d hidden files left, want %d", name, len(matches), tc.remains)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Errorf("stale folder still there: %v", err)
	}
	must(t, up.Abort())
	must(t, s.RemoveDir("busy")) // the upload is gone: its folder can go
}
