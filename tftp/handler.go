package tftp

import (
	"errors"
	"io"
	"net/netip"
)

// Request is a read or write request as a Handler sees it.
type Request struct {
	// Name is the file name as the client sent it, unchecked.
	Name string
	// Local is the server address the request arrived at; invalid when
	// unknown.
	Local netip.Addr
	// Remote is the client's address and port.
	Remote netip.AddrPort
}

// Handler is what the server serves. The server never opens a file
// itself: reads and uploads go through the handler, which confines names
// and decides what exists. Errors are refused with the RFC 1350 code of
// the sentinel they wrap (ErrNotFound 1, ErrAccess and ErrInvalidName 2,
// ErrTooLarge and ErrDiskFull 3, ErrExists 6); any other error is
// refused as code 0 "i/o error". The client reads only the code's short
// text; the error itself goes to the log.
type Handler interface {
	// Open opens the file a read request names. size is its length for
	// tsize (RFC 2349), or -1 when it is not known in advance.
	Open(req Request) (r io.ReadCloser, size int64, err error)
	// CheckCreate refuses, when the write request arrives and before
	// anything is sent, what Create would refuse: a name that is taken or
	// a folder that does not exist. It creates nothing, so a request from
	// a forged address costs no file.
	CheckCreate(req Request) error
	// Create starts the upload a write request names, once the client has
	// sent its first block. maxSize caps it (0 or less: no cap).
	Create(req Request, maxSize int64) (Upload, error)
}

// Upload is a file being received. Nothing is visible under its name
// until Commit, which the server calls only after the final short block;
// Abort throws it away. Exactly one of them is called.
//
// An Upload that also has a Name() string method names the file it was
// stored as; Config.Transfers then remembers who uploaded it.
type Upload interface {
	io.Writer
	Commit() error
	Abort() error
}

// Errors a Handler wraps to choose the code a refusal carries.
var (
	ErrNotFound    = errors.New("file not found")
	ErrAccess      = errors.New("access violation")
	ErrInvalidName = errors.New("invalid file name")
	ErrExists      = errors.New("file already exists")
	ErrTooLarge    = errors.New("file too large")
	ErrDiskFull    = errors.New("disk full")
)
