package images

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers wrap them with context and test them with
// errors.Is; each protocol maps them to its own error codes in one place.
var (
	// ErrNotFound: the name does not exist in the store.
	ErrNotFound = errors.New("file not found")
	// ErrExists: an upload or mkdir would replace an existing entry.
	ErrExists = errors.New("file already exists")
	// ErrInvalidName: the client name is malformed, too long, reaches outside
	// the store, or names an internal temporary file.
	ErrInvalidName = errors.New("invalid file name")
	// ErrReadOnly: a write was asked for where writing is not allowed.
	ErrReadOnly = errors.New("read-only")
	// ErrIsDir: a file operation named a directory.
	ErrIsDir = errors.New("is a directory")
	// ErrNotDir: a directory operation named a file.
	ErrNotDir = errors.New("not a directory")
	// ErrNoSpace: the file system is full (ENOSPC or EDQUOT).
	ErrNoSpace = errors.New("no space left on device")
	// ErrTooLarge: an upload went past its size limit.
	ErrTooLarge = errors.New("file too large")
	// ErrNotEmpty: a directory still holds entries, or an upload is being
	// written into it, and cannot be removed.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrWriteOnly: a read inside the upload area, which is write-only for
	// this reader (Options.UploadsReadable). It wraps ErrNotFound, so every
	// protocol answers as for a missing name and existence is not revealed.
	ErrWriteOnly = fmt.Errorf("upload area is write-only: %w", ErrNotFound)
)
