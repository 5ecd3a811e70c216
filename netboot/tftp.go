package netboot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/scripts"
	"github.com/bootsrv/bootsrv/tftp"
)

// tftpHandler serves the store over TFTP: a boot script rendered for the
// machine that asks when one has the name asked for, else the store's
// file; uploads go into the upload folder, atomic and never over an
// existing file.
type tftpHandler struct{ l *Layer }

func (h *tftpHandler) Open(req tftp.Request) (io.ReadCloser, int64, error) {
	data, ok, err := h.l.scripts.Render(scripts.Request{Name: req.Name, Protocol: "tftp",
		Local: req.Local.Unmap(), Remote: req.Remote.Addr().Unmap()})
	if err != nil {
		return nil, 0, err // an i/o error to the client; the detail is logged
	}
	if ok {
		return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
	}
	f, fi, err := h.l.store.Open(req.Name)
	if err != nil {
		return nil, 0, tftpErr(err)
	}
	return f, fi.Size(), nil
}

// uploadName places the name a write request asks for in the upload
// folder; the store root itself is no name.
func (h *tftpHandler) uploadName(req tftp.Request) (string, error) {
	if n, err := images.Clean(req.Name); err != nil || n == "." {
		return "", tftpErr(errors.Join(images.ErrInvalidName, err))
	}
	n, err := images.Join(*h.l.uploads.Load(), req.Name)
	return n, tftpErr(err)
}

func (h *tftpHandler) CheckCreate(req tftp.Request) error {
	name, err := h.uploadName(req)
	if err != nil {
		return err
	}
	if _, err := h.l.store.Stat(name); err == nil {
		return fmt.Errorf("upload %s: %w", name, tftp.ErrExists)
	} else if !errors.Is(err, images.ErrNotFound) {
		return tftpErr(err)
	}
	fi, err := h.l.store.Stat(path.Dir(name))
	if err != nil {
		return tftpErr(err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("upload %s: %w", name, tftp.ErrNotFound)
	}
	return nil
}

func (h *tftpHandler) Create(req tftp.Request, maxSize int64) (tftp.Upload, error) {
	name, err := h.uploadName(req)
	if err != nil {
		return nil, err
	}
	up, err := h.l.store.Create(name, maxSize)
	if err != nil {
		return nil, tftpErr(err)
	}
	return tftpUpload{up}, nil
}

// tftpUpload is a store upload with errors in the tftp package's terms.
type tftpUpload struct{ *images.Upload }

func (u tftpUpload) Write(p []byte) (int, error) {
	n, err := u.Upload.Write(p)
	return n, tftpErr(err)
}

func (u tftpUpload) Commit() error { return tftpErr(u.Upload.Commit()) }

// tftpErr maps a store error to the tftp sentinel that picks its TFTP
// code, keeping the store's error in the chain for the log. It is the one
// place where store errors meet TFTP.
func tftpErr(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ store, tftp error }{
		{images.ErrNotFound, tftp.ErrNotFound},
		{images.ErrIsDir, tftp.ErrNotFound},
		{images.ErrNotDir, tftp.ErrNotFound},
		{images.ErrInvalidName, tftp.ErrInvalidName},
		{images.ErrReadOnly, tftp.ErrAccess},
		{images.ErrExists, tftp.ErrExists},
		{images.ErrTooLarge, tftp.ErrTooLarge},
		{images.ErrNoSpace, tftp.ErrDiskFull},
	} {
		if errors.Is(err, m.store) {
			return fmt.Errorf("%w: %w", m.tftp, err)
		}
	}
	return err
}
