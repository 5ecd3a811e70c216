package tftp

import "errors"

// TFTP error codes, RFC 1350 section 5 (and RFC 2347 for 8).
const (
	codeUndefined    = 0
	codeNotFound     = 1
	codeAccess       = 2
	codeDiskFull     = 3
	codeIllegalOp    = 4
	codeUnknownTID   = 5
	codeExists       = 6
	codeOptionRefuse = 8
)

// Refusal reasons, the values of bootsrv_tftp_refusals_total{reason}.
const (
	reasonNotFound      = "not_found"
	reasonInvalidName   = "invalid_name"
	reasonAccess        = "access"
	reasonBusy          = "busy"
	reasonExists        = "exists"
	reasonWriteDisabled = "write_disabled"
	reasonTooLarge      = "too_large"
	reasonDiskFull      = "disk_full"
	reasonIOError       = "io_error"
	reasonMalformed     = "malformed" // undecodable requests, unknown modes, stray packets to the server port
	reasonResources     = "resources" // no socket for the transfer (EMFILE, ENOBUFS, ...)
	reasonIPLimit       = "ip_limit"  // max_transfers_per_ip
	reasonUnverified    = "unverified_limit"
)

var reasons = []string{reasonNotFound, reasonInvalidName, reasonAccess, reasonBusy,
	reasonExists, reasonWriteDisabled, reasonTooLarge, reasonDiskFull, reasonIOError,
	reasonMalformed, reasonResources, reasonIPLimit, reasonUnverified}

// refusal is an error the server decides on. Its Error text is what the
// client reads in the ERROR packet, so it is short and never holds a path;
// the cause goes to the log only.
type refusal struct {
	code   uint16
	msg    string
	reason string
	cause  error
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.cause }

var (
	errBusy            = &refusal{code: codeUndefined, msg: "server busy", reason: reasonBusy}
	errIPLimit         = &refusal{code: codeUndefined, msg: "server busy", reason: reasonIPLimit}
	errUnverifiedLimit = &refusal{code: codeUndefined, msg: "server busy", reason: reasonUnverified}
	errWriteDisabled   = &refusal{code: codeAccess, msg: "writes disabled", reason: reasonWriteDisabled}
	errBadMode         = &refusal{code: codeIllegalOp, msg: "unsupported mode", reason: reasonMalformed}
	errShutdown        = errors.New("server shutting down")
	// errEvicted: the transfer's peer had not answered yet and its slot
	// went to a newer request (see admission).
	errEvicted = errors.New("evicted before the peer answered")
)

// refuse maps a handler's error to what the client is told. It is the one
// place where errors become TFTP error codes (see Handler).
func refuse(err error) *refusal {
	var r *refusal
	if errors.As(err, &r) {
		return r
	}
	mk := func(code uint16, msg, reason string) *refusal {
		return &refusal{code: code, msg: msg, reason: reason, cause: err}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return mk(codeNotFound, "file not found", reasonNotFound)
	case errors.Is(err, ErrInvalidName):
		return mk(codeAccess, "access violation", reasonInvalidName)
	case errors.Is(err, ErrAccess):
		return mk(codeAccess, "access violation", reasonAccess)
	case errors.Is(err, ErrExists):
		return mk(codeExists, "file already exists", reasonExists)
	case errors.Is(err, ErrTooLarge):
		return mk(codeDiskFull, "file too large", reasonTooLarge)
	case errors.Is(err, ErrDiskFull):
		return mk(codeDiskFull, "disk full", reasonDiskFull)
	}
	return mk(codeUndefined, "i/o error", reasonIOError)
}

// endResult classifies the error a transfer ended with.
func endResult(err error) string {
	var pe *peerError
	var r *refusal
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, errShutdown):
		return resultShutdown
	case errors.Is(err, errEvicted):
		return resultEvicted
	case errors.As(err, &pe):
		return resultPeerAbort
	case errors.Is(err, errPeerTimeout):
		return resultTimeout
	case errors.As(err, &r):
		return resultError
	}
	return resultError
}
