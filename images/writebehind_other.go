//go:build !linux

package images

import (
	"errors"
	"os"
)

// syncFileRange is Linux's sync_file_range(2); elsewhere the write-behind
// turns itself off and the fsync before a commit does all the work.
func syncFileRange(*os.File, int64, int64, bool) error { return errors.ErrUnsupported }
