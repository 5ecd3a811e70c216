package tftp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"

	"github.com/bootsrv/bootsrv/images"
)

// source is what a read request is served from: a store file or, through
// SetVirtual, bytes made for the client.
type source struct {
	r     io.Reader
	size  int64 // for tsize (RFC 2349)
	close func() error
}

// openRead is the one entry of the read path: a name as the client sent it
// becomes a source, or an error that refuse maps to a TFTP code.
func (s *Server) openRead(name string, local, remote netip.Addr) (source, error) {
	if src, ok, err := s.openVirtual(name, local, remote); ok || err != nil {
		return src, err
	}
	f, fi, err := s.store.Open(name)
	if err != nil {
		return source{}, err
	}
	return source{r: f, size: fi.Size(), close: f.Close}, nil
}

func bytesSource(b []byte) source {
	return source{r: bytes.NewReader(b), size: int64(len(b)), close: func() error { return nil }}
}

// ackBufSize holds what a peer sends during a read: ACKs, or an ERROR with
// its message. Longer datagrams are cut, which is harmless.
const ackBufSize = 1024

func (s *Server) handleRead(t *transfer, req requestPacket, lim limits) {
	src, err := s.openRead(req.file, t.local, t.peer.Addr())
	if err != nil {
		t.refuse(refuse(err))
		return
	}
	defer src.close()
	r, size := src.r, src.size
	if t.mode == modeNetascii {
		r, size = newNetasciiReader(r), -1
	}
	p, rf := negotiate(req, lim, size)
	if rf != nil {
		t.refuse(rf)
		return
	}
	t.setParams(p)
	t.rbuf = make([]byte, ackBufSize)
	sd := newSender(t, r)
	err = sd.run()
	if err != nil {
		t.abort(err)
	}
	t.finish(sd.bytes, err, sd.readErr)
}

func (s *Server) handleWrite(t *transfer, req requestPacket, lim limits) {
	if !s.cfg.AllowWrite {
		t.refuse(errWriteDisabled)
		return
	}
	if n, err := images.Clean(req.file); err != nil || n == "." {
		t.refuse(refuse(errors.Join(images.ErrInvalidName, err)))
		return
	}
	name, err := images.Join(s.cfg.UploadDir, req.file)
	if err != nil {
		t.refuse(refuse(err))
		return
	}
	// RFC 2349 section 3: a WRQ may announce its size; negotiate refuses
	// it early, with code 3, rather than after the cap is hit.
	p, rf := negotiate(req, lim, -1)
	if rf != nil {
		t.refuse(rf)
		return
	}
	if err := s.checkUpload(name); err != nil {
		t.refuse(refuse(err))
		return
	}
	t.setParams(p)
	t.rbuf = make([]byte, 4+t.blksize+1) // +1 tells an oversized block
	t.hold(len(t.rbuf))
	rc := &receiver{t: t, create: func() (*sink, error) {
		up, err := s.store.Create(name, s.cfg.MaxUploadSize)
		if err != nil {
			return nil, err
		}
		return newSink(up, t.mode == modeNetascii, s.cfg.MaxUploadSize), nil
	}}
	defer rc.discard()
	err = rc.run()
	if err != nil {
		t.abort(err)
		t.finish(rc.bytes, err, rc.cause())
		return
	}
	// The upload is committed; acknowledge the last block, then count.
	ackErr := rc.ackLast()
	t.finish(rc.bytes, nil, ackErr)
	rc.dally()
}

// checkUpload refuses, before anything is created, what Create would
// refuse at block 1: a name already taken (code 6), a folder that does not
// exist (code 1). The upload itself is created only once the client sends
// data, so a WRQ from a forged address costs no file; Create checks again
// then, and the commit (link(2)) never replaces a file either way.
func (s *Server) checkUpload(name string) error {
	if _, err := s.store.Stat(name); err == nil {
		return fmt.Errorf("upload %s: %w", name, images.ErrExists)
	} else if !errors.Is(err, images.ErrNotFound) {
		return err
	}
	fi, err := s.store.Stat(path.Dir(name))
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("upload %s: %w", name, images.ErrNotDir)
	}
	return nil
}

// setParams applies what was negotiated. A timeout option (RFC 2349)
// replaces the configured timeout as the longest wait only once the peer
// has answered (see transfer.verify).
func (t *transfer) setParams(p params) {
	t.params = p
}
