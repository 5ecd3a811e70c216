package images

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// writeBehindWindow is how much an upload writes between two steps of its
// write-behind. Smaller windows leave less for the final fsync but wait
// for the disk more often; at 8 MiB a 512 MiB upload takes 64 steps and
// its fsync finds at most 16 MiB still to write.
const writeBehindWindow = 8 << 20

// writeBehind has the kernel write an upload's data to disk while the
// upload is still being received, instead of all of it in the fsync
// before the commit, so that durability overlaps the transfer rather than
// following it. After every window of data it starts the writeback of
// what is dirty (sync_file_range with SYNC_FILE_RANGE_WRITE, which does
// not wait), then waits for the writeback it started one step before.
// The disk therefore always has a window queued while the transfer goes
// on, an upload holds at most about two windows of dirty or in-flight
// pages (bounded per upload, not only by the kernel's global dirty
// limits), and the fsync finds little left besides the metadata.
//
// Durability is unchanged: the fsync before the commit still covers all
// of the file. Where sync_file_range is unsupported (not Linux, a
// seccomp filter, a file system that refuses it) the write-behind turns
// itself off and the fsync does all the work, as it did before.
//
// A write-back error it meets is sticky: every later write and the sync
// before the commit return it. It must not be dropped, because the
// kernel reports such an error once per open file and the waiting
// sync_file_range has just consumed it, so the fsync would succeed.
type writeBehind struct {
	f      *os.File
	window int64
	// syncRange is Store.syncRange: sync_file_range(2) on [off, off+n)
	// of f, n == 0 meaning to the end of the file; wait also waits for
	// the writeback to finish.
	syncRange func(f *os.File, off, n int64, wait bool) error
	pending   int64 // bytes written since the last step
	started   int64 // file offset below which writeback was started
	off       bool  // unsupported here
	err       error // sticky write-back error
}

func (s *Store) newWriteBehind(f *os.File) writeBehind {
	return writeBehind{f: f, window: s.writeBehind, syncRange: s.syncRange, off: s.writeBehind <= 0}
}

// wrote notes n more bytes written to the file and takes a step once a
// window has gathered. It returns the write-back error, if any.
func (w *writeBehind) wrote(n int64) error {
	if w.err != nil || w.off {
		return w.err
	}
	if w.pending += n; w.pending < w.window {
		return nil
	}
	w.pending = 0
	end, err := w.f.Seek(0, io.SeekCurrent)
	if err != nil {
		w.off = true // the fsync does it all
		return nil
	}
	// Ranges start at 0 rather than at the previous step: the pages
	// below are clean or already in flight, which the kernel skips by
	// its page tags, and a seek back (a resumed upload) is covered too.
	if err := w.syncRange(w.f, 0, end, false); err != nil {
		return w.fail(err)
	}
	if w.started > 0 {
		if err := w.syncRange(w.f, 0, w.started, true); err != nil {
			return w.fail(err)
		}
	}
	w.started = end
	return nil
}

// check returns the write-back error, if any, for the sync before a
// commit.
func (w *writeBehind) check() error { return w.err }

func (w *writeBehind) fail(err error) error {
	if unsupported(err) {
		w.off = true
		return nil
	}
	w.err = err
	return err
}

// unsupported reports whether sync_file_range failed because it cannot be
// used on this file rather than because writing failed: ENOSYS (an old
// kernel, a seccomp filter), EPERM (a seccomp filter), EINVAL (a file
// system that refuses it), ESPIPE (not a regular file), EOPNOTSUPP.
func unsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.ENOSYS) ||
		errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ESPIPE) || errors.Is(err, syscall.EOPNOTSUPP)
}
