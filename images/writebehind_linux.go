package images

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFileRange is sync_file_range(2) on f: start the writeback of the
// dirty pages in [off, off+n) (n == 0: to the end of the file) and, with
// wait, wait for all of their writeback to finish, as the kernel's
// documentation recommends for data integrity
// (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
// SYNC_FILE_RANGE_WAIT_AFTER). It flushes no metadata: only fsync makes a
// file durable.
func syncFileRange(f *os.File, off, n int64, wait bool) error {
	flags := unix.SYNC_FILE_RANGE_WRITE
	if wait {
		flags = unix.SYNC_FILE_RANGE_WRITE_AND_WAIT
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = unix.SyncFileRange(int(fd), off, n, flags); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("sync_file_range: %w", serr)
	}
	return nil
}
