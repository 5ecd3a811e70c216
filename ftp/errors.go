package ftp

import (
	"errors"

	"github.com/bootsrv/bootsrv/images"
)

var (
	errBusy        = errors.New("upload of this name in progress")
	errNoResume    = errors.New("resume not allowed here")
	errUploadOnly  = errors.New("upload-only folder")
	errNotComplete = errors.New("upload interrupted")
)

// reply is an FTP reply code and its short client text.
type reply struct {
	code int
	text string
}

// replyFor maps a store or driver error to the reply the client gets
// (RFC 959 §4.2, RFC 3659 §5.3 for 554 on a bad REST). Clients get short
// generic text; the detail goes to the log.
func replyFor(err error) reply {
	switch {
	case errors.Is(err, images.ErrNotFound):
		return reply{550, "No such file or directory."}
	case errors.Is(err, images.ErrExists):
		return reply{550, "File exists."}
	case errors.Is(err, images.ErrInvalidName):
		return reply{553, "File name not allowed."}
	case errors.Is(err, images.ErrReadOnly), errors.Is(err, errUploadOnly):
		return reply{550, "Permission denied."}
	case errors.Is(err, images.ErrIsDir):
		return reply{550, "Is a directory."}
	case errors.Is(err, images.ErrNotDir):
		return reply{550, "Not a directory."}
	case errors.Is(err, images.ErrNotEmpty):
		return reply{550, "Directory not empty."}
	case errors.Is(err, images.ErrNoSpace):
		return reply{452, "Insufficient storage space."}
	case errors.Is(err, images.ErrTooLarge):
		return reply{552, "Exceeded storage allocation."}
	case errors.Is(err, images.ErrBadOffset):
		return reply{554, "Invalid REST parameter."}
	case errors.Is(err, errBusy):
		return reply{450, "File busy."}
	case errors.Is(err, errNoResume):
		return reply{550, "Resume not allowed."}
	case errors.Is(err, errNotComplete):
		return reply{426, "Transfer aborted; upload kept incomplete."}
	}
	return reply{451, "Local error in processing."}
}

// reasonFor is the bootsrv_ftp_refusals_total label for an error.
func reasonFor(err error) string {
	switch {
	case errors.Is(err, images.ErrNoSpace), errors.Is(err, images.ErrTooLarge):
		return reasonNoSpace
	case errors.Is(err, images.ErrReadOnly), errors.Is(err, errUploadOnly), errors.Is(err, errNoResume):
		return reasonPermission
	case errors.Is(err, images.ErrInvalidName):
		return "invalid_name"
	case errors.Is(err, images.ErrNotFound), errors.Is(err, images.ErrIsDir), errors.Is(err, images.ErrNotDir):
		return "not_found"
	case errors.Is(err, images.ErrExists), errors.Is(err, errBusy):
		return "exists"
	case errors.Is(err, images.ErrNotEmpty):
		return "not_empty"
	case errors.Is(err, images.ErrBadOffset):
		return "bad_offset"
	}
	return reasonIOError
}
