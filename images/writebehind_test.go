package images

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// rangeCall is one sync_file_range a test saw.
type rangeCall struct {
	off, n int64
	wait   bool
}

// recordRanges makes s's uploads step their write-behind every window
// bytes and record each sync_file_range, answering with fail (nil: the
// real call).
func recordRanges(s *Store, window int64, fail func(rangeCall) error) *[]rangeCall {
	calls := &[]rangeCall{}
	s.writeBehind = window
	s.syncRange = func(f *os.File, off, n int64, wait bool) error {
		c := rangeCall{off, n, wait}
		*calls = append(*calls, c)
		if fail != nil {
			if err := fail(c); err != nil {
				return err
			}
		}
		return syncFileRange(f, off, n, wait)
	}
	return calls
}

// pattern is n bytes that differ from one offset to the next, so that a
// lost or repeated piece shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// writeInPieces writes data to w in pieces of varied sizes, alternating
// Write and ReadFrom as the transfers do.
func writeInPieces(t *testing.T, w interface {
	io.Writer
	io.ReaderFrom
}, data []byte) {
	t.Helper()
	for i, off := 0, 0; off < len(data); i++ {
		end := min(off+1000+(i*3331)%9000, len(data))
		var err error
		if i%2 == 0 {
			_, err = w.Write(data[off:end])
		} else {
			_, err = w.ReadFrom(bytes.NewReader(data[off:end]))
		}
		must(t, err)
		off = end
	}
}

// TestWriteBehindByteExact: uploads and partials written through the
// write-behind commit exactly what was written; each step starts the
// writeback of what is new and waits for what the step before started.
func TestWriteBehindByteExact(t *testing.T) {
	data := pattern(300 << 10)
	s, dir := newTestStore(t, map[string]string{"up/.keep": ""})
	calls := recordRanges(s, 16<<10, nil)

	u, err := s.Create("up/a", 0)
	must(t, err)
	writeInPieces(t, u, data)
	must(t, u.Commit())

	// A resumed partial: written, kept, reopened at an offset, finished.
	p, err := s.OpenPartial("up/b", "alice", 0)
	must(t, err)
	writeInPieces(t, p, data[:100<<10])
	must(t, p.Close())
	p, err = s.OpenPartial("up/b", "alice", 50<<10)
	must(t, err)
	writeInPieces(t, p, data[50<<10:])
	must(t, p.Commit(false))

	for _, name := range []string{"up/a", "up/b"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		must(t, err)
		if !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, not what was written (%d bytes)", name, len(got), len(data))
		}
	}
	if len(*calls) < 2*(300/16) {
		t.Fatalf("%d sync_file_range calls for 2 x 300 KiB in 16 KiB windows", len(*calls))
	}
	// Each step starts the writeback of what is new, then waits for what
	// the step before started, never for what it has just started.
	var prev, cur int64
	for i, c := range *calls {
		switch {
		case c.off != 0:
			t.Fatalf("call %d starts at %d, want 0", i, c.off)
		case !c.wait:
			prev, cur = cur, c.n
		case i == 0 || (*calls)[i-1].wait || c.n != prev:
			t.Fatalf("call %d waits for %d bytes; the steps before started %d, then %d: %v", i, c.n, prev, cur, *calls)
		}
	}
}

// TestWriteBehindUnsupported: where sync_file_range cannot be used, the
// write-behind turns itself off after one try and the upload completes as
// before, on the fsync alone.
func TestWriteBehindUnsupported(t *testing.T) {
	for name, errno := range map[string]syscall.Errno{"ENOSYS": syscall.ENOSYS, "EINVAL": syscall.EINVAL,
		"EPERM": syscall.EPERM, "EOPNOTSUPP": syscall.EOPNOTSUPP} {
		t.Run(name, func(t *testing.T) {
			s, dir := newTestStore(t, map[string]string{"up/.keep": ""})
			calls := recordRanges(s, 4<<10, func(rangeCall) error { return errno })
			data := pattern(100 << 10)
			u, err := s.Create("up/a", 0)
			must(t, err)
			writeInPieces(t, u, data)
			must(t, u.Commit())
			if len(*calls) != 1 {
				t.Errorf("%d sync_file_range calls, want 1 then off", len(*calls))
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "up/a")); !bytes.Equal(got, data) {
				t.Errorf("committed %d bytes, not what was written", len(got))
			}
		})
	}
}

// TestWriteBehindError: an I/O error met by the write-behind fails the
// write and the commit, and nothing becomes visible; the kernel reports
// such an error only once, so a later fsync alone would not.
func TestWriteBehindError(t *testing.T) {
	tests := map[string]struct {
		errno syscall.Errno
		want  error // sentinel the store maps it to; nil: none
	}{
		"EIO":    {syscall.EIO, nil},
		"ENOSPC": {syscall.ENOSPC, ErrNoSpace},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, dir := newTestStore(t, map[string]string{"up/.keep": ""})
			recordRanges(s, 4<<10, func(c rangeCall) error {
				if c.wait {
					return tc.errno
				}
				return nil
			})
			chunk := pattern(4 << 10)
			u, err := s.Create("up/a", 0)
			must(t, err)
			p, err := s.OpenPartial("up/b", "alice", 0)
			must(t, err)
			for _, w := range []io.Writer{u, p} {
				var werr error
				for i := 0; i < 4 && werr == nil; i++ {
					_, werr = w.Write(chunk)
				}
				if !errors.Is(werr, tc.errno) || (tc.want != nil && !errors.Is(werr, tc.want)) {
					t.Errorf("%T: write error %v, want %v", w, werr, tc.errno)
				}
				if _, err := w.Write(chunk); !errors.Is(err, tc.errno) {
					t.Errorf("%T: write after the error = %v, want it again", w, err)
				}
			}
			if err := u.Commit(); !errors.Is(err, tc.errno) {
				t.Errorf("Upload.Commit = %v, want %v", err, tc.errno)
			}
			if err := p.Commit(false); !errors.Is(err, tc.errno) {
				t.Errorf("Partial.Commit = %v, want %v", err, tc.errno)
			}
			for _, name := range []string{"up/a", "up/b"} {
				if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
					t.Errorf("%s visible after a write-back error: %v", name, err)
				}
			}
		})
	}
}

// TestWriteBehindReal runs the real sync_file_range on the test's file
// system (where it is unsupported it turns off, which is fine too).
func TestWriteBehindReal(t *testing.T) {
	s, dir := newTestStore(t, map[string]string{"up/.keep": ""})
	s.writeBehind = 64 << 10
	data := pattern(1 << 20)
	u, err := s.Create("up/a", 0)
	must(t, err)
	writeInPieces(t, u, data)
	if u.wb.started == 0 && !u.wb.off {
		t.Error("write-behind neither stepped nor turned off")
	}
	must(t, u.Commit())
	if got, _ := os.ReadFile(filepath.Join(dir, "up/a")); !bytes.Equal(got, data) {
		t.Errorf("committed %d bytes, not what was written", len(got))
	}
}
