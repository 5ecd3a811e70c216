package tftp

import (
	"bytes"
	"errors"
	"io"
	"net/netip"

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
	up, err := s.store.Create(name, s.cfg.MaxUploadSize)
	if err != nil {
		t.refuse(refuse(err))
		return
	}
	defer up.Abort()
	t.setParams(p)
	t.rbuf = make([]byte, 4+t.blksize+1) // +1 tells an oversized block
	rc := &receiver{t: t, sink: newSink(up, t.mode == modeNetascii, s.cfg.MaxUploadSize)}
	err = rc.run()
	if err != nil {
		t.abort(err)
		t.finish(rc.bytes, err, rc.sink.err)
		return
	}
	// The upload is committed; acknowledge the last block, then count.
	ackErr := rc.ackLast()
	t.finish(rc.bytes, nil, ackErr)
	rc.dally()
}

// setParams applies what was negotiated. A timeout option (RFC 2349)
// replaces the configured timeout as the longest wait only once the peer
// has answered (see transfer.verify).
func (t *transfer) setParams(p params) {
	t.params = p
}
