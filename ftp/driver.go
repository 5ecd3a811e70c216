package ftp

import (
	"io/fs"
	"os"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"github.com/bootsrv/bootsrv/images"
)

// fsDriver is the library's ClientDriver for one logged-in session: an
// afero.Fs over the image store, confined to the account's root with
// images.Join, plus the library's extensions for listings, directory
// removal and transfers (GetHandle), so that file data never passes
// through afero.
type fsDriver struct {
	sess *session
	srv  *Server
	acct *account
	// store is the server's store, or for a named user with write
	// permission its Trusted view: they collect what devices upload, so
	// they read the upload area that is write-only for everyone else.
	store *images.Store
}

var (
	_ ftpserver.ClientDriver                      = (*fsDriver)(nil)
	_ ftpserver.ClientDriverExtensionFileList     = (*fsDriver)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*fsDriver)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir    = (*fsDriver)(nil)
)

// path maps a library path ("/a/b", already resolved against the working
// directory) into the store below the account's root.
func (d *fsDriver) path(name string) (string, error) {
	p, err := images.Join(d.acct.root, name)
	if err != nil {
		return "", d.fail("path", name, err)
	}
	return p, nil
}

// fail records err's reply for the client and logs the detail.
func (d *fsDriver) fail(op, name string, err error) error {
	d.sess.setOverride(replyFor(err))
	d.sess.log.Debug().Err(err).Str("op", op).Str("file", name).Msg("ftp: refused")
	d.srv.m.refusals.WithLabelValues(reasonFor(err)).Inc()
	return err
}

// uploadOnly reports whether store path p is inside the anonymous upload
// folder, where anonymous users may store but never read or list.
func (d *fsDriver) uploadOnly(p string) bool {
	return d.acct.anon && d.acct.upload != "" && within(p, d.acct.upload)
}

func (d *fsDriver) writable(op, name string) error {
	if !d.acct.write {
		return d.fail(op, name, images.ErrReadOnly)
	}
	return nil
}

func (d *fsDriver) Name() string { return "bootsrv" }

func (d *fsDriver) Stat(name string) (fs.FileInfo, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if d.uploadOnly(p) && p != d.acct.upload {
		return nil, d.fail("stat", p, errUploadOnly)
	}
	fi, err := d.store.Stat(p)
	if err != nil && d.acct.write && !d.acct.anon {
		// The owner of a partial upload sees its size, so that SIZE
		// drives resume (curl -C -, lftp reput); nobody else does.
		if pfi, perr := d.store.StatPartial(p, d.acct.name); perr == nil {
			return pfi, nil
		}
	}
	if err != nil {
		return nil, d.fail("stat", p, err)
	}
	return fi, nil
}

func (d *fsDriver) ReadDir(name string) ([]fs.FileInfo, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if d.uploadOnly(p) {
		return nil, d.fail("list", p, errUploadOnly)
	}
	list, err := d.store.List(p)
	if err != nil {
		return nil, d.fail("list", p, err)
	}
	return list, nil
}

func (d *fsDriver) Mkdir(name string, _ os.FileMode) error {
	if err := d.writable("mkdir", name); err != nil {
		return err
	}
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := d.store.Mkdir(p); err != nil {
		return d.fail("mkdir", p, err)
	}
	d.sess.log.Info().Str("dir", p).Msg("ftp mkdir")
	return nil
}

func (d *fsDriver) MkdirAll(name string, perm os.FileMode) error { return d.Mkdir(name, perm) }

func (d *fsDriver) Remove(name string) error {
	if err := d.writable("delete", name); err != nil {
		return err
	}
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := d.store.Remove(p); err != nil {
		return d.fail("delete", p, err)
	}
	d.sess.log.Info().Str("file", p).Msg("ftp delete")
	return nil
}

func (d *fsDriver) RemoveDir(name string) error {
	if err := d.writable("rmdir", name); err != nil {
		return err
	}
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := d.store.RemoveDir(p); err != nil {
		return d.fail("rmdir", p, err)
	}
	d.sess.log.Info().Str("dir", p).Msg("ftp rmdir")
	return nil
}

func (d *fsDriver) RemoveAll(name string) error { return d.fail("rmdir", name, images.ErrReadOnly) }

func (d *fsDriver) Rename(from, to string) error {
	if err := d.writable("rename", from); err != nil {
		return err
	}
	pf, err := d.path(from)
	if err != nil {
		return err
	}
	pt, err := d.path(to)
	if err != nil {
		return err
	}
	if err := d.store.Rename(pf, pt, d.srv.conf().AllowOverwrite); err != nil {
		return d.fail("rename", pf, err)
	}
	d.sess.log.Info().Str("from", pf).Str("to", pt).Msg("ftp rename")
	return nil
}

// The afero methods below are not reached through the library with the
// extensions above (transfers use GetHandle, listings ReadDir); they refuse
// so that no path around the store's checks exists.

func (d *fsDriver) Create(name string) (afero.File, error) {
	return nil, d.fail("create", name, images.ErrReadOnly)
}

func (d *fsDriver) Open(name string) (afero.File, error) {
	return nil, d.fail("open", name, images.ErrReadOnly)
}

func (d *fsDriver) OpenFile(name string, _ int, _ os.FileMode) (afero.File, error) {
	return nil, d.fail("open", name, images.ErrReadOnly)
}

func (d *fsDriver) Chmod(name string, _ os.FileMode) error {
	return d.fail("chmod", name, images.ErrReadOnly)
}

func (d *fsDriver) Chown(name string, _, _ int) error {
	return d.fail("chown", name, images.ErrReadOnly)
}

func (d *fsDriver) Chtimes(name string, _, _ time.Time) error {
	return d.fail("chtimes", name, images.ErrReadOnly)
}
