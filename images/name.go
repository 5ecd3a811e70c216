package images

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

const (
	// MaxNameLen is the longest client name accepted, in bytes.
	MaxNameLen = 1024
	// maxComponentLen matches NAME_MAX on Linux file systems.
	maxComponentLen = 255
	// TempPrefix starts the name of every file the store writes before it
	// is complete. Clean refuses names with a component that starts with
	// it and List hides them.
	TempPrefix = ".bootsrv-"
)

// Clean normalises a name supplied by a client into a slash-separated path
// relative to the store root, or "." for the root itself.
//
// A leading "/" is stripped (TFTP clients often send absolute names), "\" is
// turned into "/" (Windows and WDS clients), and empty and "." components are
// dropped. Names with "..", NUL or other control characters, invalid UTF-8,
// more than MaxNameLen bytes, or a component naming a temporary upload are
// refused with ErrInvalidName. ".." is refused rather than resolved so that a
// traversal attempt is visible as an error, never silently served.
func Clean(name string) (string, error) {
	if len(name) > MaxNameLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: control character %#x", ErrInvalidName, c)
		}
	}
	parts := strings.Split(strings.ReplaceAll(name, `\`, "/"), "/")
	kept := parts[:0]
	for _, p := range parts {
		switch {
		case p == "" || p == ".":
			continue
		case p == "..":
			return "", fmt.Errorf("%w: parent reference", ErrInvalidName)
		case len(p) > maxComponentLen:
			return "", fmt.Errorf("%w: component longer than %d bytes", ErrInvalidName, maxComponentLen)
		case strings.HasPrefix(p, TempPrefix):
			return "", fmt.Errorf("%w: reserved name", ErrInvalidName)
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return ".", nil
	}
	return strings.Join(kept, "/"), nil
}

// Join cleans name and places it below dir, itself a cleaned store path.
// It is how a protocol confines a client to a subtree (an FTP user's root,
// the TFTP upload folder) without string concatenation of its own.
func Join(dir, name string) (string, error) {
	n, err := Clean(name)
	if err != nil {
		return "", err
	}
	d, err := Clean(dir)
	if err != nil {
		return "", err
	}
	switch {
	case d == ".":
		return n, nil
	case n == ".":
		return d, nil
	}
	return d + "/" + n, nil
}
