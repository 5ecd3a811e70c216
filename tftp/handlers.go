package tftp

import "io"

// ackBufSize holds what a peer sends during a read: ACKs, or an ERROR with
// its message. Longer datagrams are cut, which is harmless.
const ackBufSize = 1024

// request is what the handler is told about req.
func (t *transfer) request(req requestPacket) Request {
	return Request{Name: req.file, Local: t.local, Remote: t.peer}
}

func (s *Server) handleRead(t *transfer, req requestPacket, lim limits) {
	f, size, err := s.h.Open(t.request(req))
	if err != nil {
		t.refuse(refuse(err))
		return
	}
	defer f.Close()
	var r io.Reader = f
	if t.mode == modeNetascii {
		r, size = newNetasciiReader(r), -1
	}
	p, rf := negotiate(req, lim, size)
	if rf != nil {
		t.refuse(rf)
		return
	}
	t.setParams(p)
	t.track(false, size)
	t.rbuf = make([]byte, ackBufSize)
	sd := newSender(t, r)
	err = sd.run()
	if err != nil {
		t.abort(err)
	}
	t.finish(sd.bytes, err, sd.readErr)
}

func (s *Server) handleWrite(t *transfer, req requestPacket, lim limits) {
	if !t.cfg.AllowWrite {
		t.refuse(errWriteDisabled)
		return
	}
	// RFC 2349 section 3: a WRQ may announce its size; negotiate refuses
	// it early, with code 3, rather than after the cap is hit.
	p, rf := negotiate(req, lim, -1)
	if rf != nil {
		t.refuse(rf)
		return
	}
	if err := s.h.CheckCreate(t.request(req)); err != nil {
		t.refuse(refuse(err))
		return
	}
	t.setParams(p)
	t.track(true, -1)
	t.rbuf = make([]byte, 4+t.blksize+1) // +1 tells an oversized block
	t.hold(len(t.rbuf))
	rc := &receiver{t: t, create: func() (*sink, error) {
		up, err := s.h.Create(t.request(req), t.cfg.MaxUploadSize)
		if err != nil {
			return nil, err
		}
		return newSink(up, t.mode == modeNetascii, t.cfg.MaxUploadSize), nil
	}}
	defer rc.discard()
	err := rc.run()
	if err != nil {
		t.abort(err)
		t.finish(rc.bytes, err, rc.cause())
		return
	}
	// The upload is committed; acknowledge the last block, then count.
	// An Upload with a Name method says where it was stored.
	if rc.sink != nil {
		if n, ok := rc.sink.up.(interface{ Name() string }); ok {
			t.flight.Uploaded(n.Name())
		}
	}
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
