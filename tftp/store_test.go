package tftp

import (
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/bootsrv/bootsrv/images"
)

// storeHandler serves an image store the way bootsrv does (its production
// twin lives in the netboot package): reads from the whole store, uploads
// into one folder, store errors mapped to the Handler's sentinels.
type storeHandler struct {
	store   *images.Store
	uploads string
}

func (h storeHandler) Open(req Request) (io.ReadCloser, int64, error) {
	f, fi, err := h.store.Open(req.Name)
	if err != nil {
		return nil, 0, storeErr(err)
	}
	return f, fi.Size(), nil
}

func (h storeHandler) name(req Request) (string, error) {
	if n, err := images.Clean(req.Name); err != nil || n == "." {
		return "", storeErr(errors.Join(images.ErrInvalidName, err))
	}
	n, err := images.Join(h.uploads, req.Name)
	return n, storeErr(err)
}

func (h storeHandler) CheckCreate(req Request) error {
	name, err := h.name(req)
	if err != nil {
		return err
	}
	if _, err := h.store.Stat(name); err == nil {
		return fmt.Errorf("upload %s: %w", name, ErrExists)
	}
	fi, err := h.store.Stat(path.Dir(name))
	if err != nil {
		return storeErr(err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("upload %s: %w", name, ErrNotFound)
	}
	return nil
}

func (h storeHandler) Create(req Request, maxSize int64) (Upload, error) {
	name, err := h.name(req)
	if err != nil {
		return nil, err
	}
	up, err := h.store.Create(name, maxSize)
	if err != nil {
		return nil, storeErr(err)
	}
	return storeUpload{up}, nil
}

type storeUpload struct{ *images.Upload }

func (u storeUpload) Write(p []byte) (int, error) {
	n, err := u.Upload.Write(p)
	return n, storeErr(err)
}

func (u storeUpload) Commit() error { return storeErr(u.Upload.Commit()) }

func storeErr(err error) error {
	for _, m := range []struct{ store, tftp error }{
		{images.ErrNotFound, ErrNotFound}, {images.ErrIsDir, ErrNotFound}, {images.ErrNotDir, ErrNotFound},
		{images.ErrInvalidName, ErrInvalidName}, {images.ErrReadOnly, ErrAccess}, {images.ErrExists, ErrExists},
		{images.ErrTooLarge, ErrTooLarge}, {images.ErrNoSpace, ErrDiskFull},
	} {
		if errors.Is(err, m.store) {
			return fmt.Errorf("%w: %w", m.tftp, err)
		}
	}
	return err
}
