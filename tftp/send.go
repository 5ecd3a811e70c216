package tftp

import (
	"encoding/binary"
	"errors"
	"io"
	"time"
)

// readAhead is the least data a sender reads from its source at once, so a
// file of 512-byte blocks costs one read(2) per 128 blocks, not per block.
const readAhead = 64 << 10

// sender streams a source to the peer as DATA blocks (RFC 1350), a window
// of blocks per ACK (RFC 7440; a window of 1 is RFC 1350 lock-step).
//
// Blocks are read straight into one buffer, back to back, and each DATA
// packet is sent from that buffer without a copy: the 4-byte header is
// written over the end of the previous block's data, which is saved and
// put back after the send. buf[0:4] is spare room for the first header.
//
// The buffer is window plus read-ahead, up to 192 KiB, and the request
// that asks for it may come from a forged address. So until the peer's
// first ACK the sender holds only block 1 (RFC 1350, no options) or
// nothing at all (behind an OACK, RFC 2347), and grows to full size once
// the peer has answered.
type sender struct {
	t       *transfer
	src     io.Reader
	buf     []byte
	full    int    // len(buf) once the peer has answered
	first   uint64 // block whose data starts at buf[4]
	loaded  int    // data bytes in buf[4:]
	eof     bool
	readErr error  // the real read error, for the log
	bytes   int64  // data bytes of distinct blocks sent
	maxSent uint64 // highest block sent so far

	// A window of blocks goes out with one sendmsg where the kernel can
	// segment it (UDP GSO, gso_linux.go): the headers here, the data
	// from buf, no copy.
	gso   *segmenter
	noGSO bool // the kernel refused, or this socket cannot: block by block
	hdrs  [gsoMaxSegments][4]byte
	iov   [][]byte
}

func newSender(t *transfer, src io.Reader) *sender {
	blocks := t.window + max(1, readAhead/t.blksize)
	s := &sender{t: t, src: src, full: 4 + blocks*t.blksize, first: 1}
	if t.oack == nil {
		s.resize(4 + t.blksize) // block 1, which goes out before any ACK
	}
	return s
}

// resize gives the sender a buffer of n bytes, keeping what is loaded.
func (s *sender) resize(n int) {
	b := make([]byte, n)
	if s.loaded > 0 {
		copy(b[4:], s.buf[4:4+s.loaded])
	}
	s.t.hold(n - len(s.buf))
	s.buf = b
}

// answered is the peer's first ACK: it hears the server, so the transfer
// gets its full buffer, retries and timer (see transfer.verify).
func (s *sender) answered() {
	if s.t.verified {
		return
	}
	s.t.verify()
	if len(s.buf) < s.full {
		s.resize(s.full)
	}
}

// errIllegal: the peer sent a packet that has no place in the transfer.
var errIllegal = errors.New("illegal operation from peer")

// run sends the whole source and returns once the last block is
// acknowledged. Blocks are numbered from 1 without limit here; on the wire
// the number wraps at 65536 (to 0, as tftpd-hpa and most clients do).
func (s *sender) run() error {
	t := s.t
	if t.oack != nil {
		if err := s.handshake(); err != nil {
			return err
		}
	}
	// Until answered, the window is one block (no OACK, so no
	// windowsize) and the buffer holds it: nothing is read ahead.
	base := uint64(1) // lowest block not yet acknowledged
	retries := 0      // full-timeout waits in a row
	resent := false   // this round's blocks were sent more than once
	for {
		fresh := base > s.maxSent // no block of this window was sent before
		top, last, err := s.sendWindow(base)
		if err != nil {
			return err
		}
		sentAt := time.Now()
		t.arm()
		acked, err := s.waitACK(base, top)
		if errors.Is(err, errPeerTimeout) {
			// RFC 1350: retransmit on timeout only; RFC 7440 section 4:
			// the whole window from the first unacknowledged block.
			resent = true
			if !t.timer.expired() {
				continue
			}
			if retries++; retries > t.retries() {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		s.answered()
		if fresh && !resent {
			t.timer.sample(time.Since(sentAt))
		}
		retries, resent = 0, false
		if last && acked == top {
			return nil
		}
		base = acked + 1 // an ACK below top: the peer missed acked+1, resend from there
	}
}

// sendWindow sends blocks base.. up to the window or the last block and
// returns the highest block sent and whether it is the last one.
func (s *sender) sendWindow(base uint64) (top uint64, last bool, err error) {
	// The whole window is loaded first: loading may move the data in buf
	// (compact), and the blocks then go out together.
	for n := base; n < base+uint64(s.t.window); n++ {
		if _, _, last, err = s.block(n, base); err != nil {
			return 0, false, err
		}
		if top = n; last {
			break
		}
	}
	if err := s.sendBlocks(base, top); err != nil {
		return 0, false, err
	}
	for n := base; n <= top; n++ {
		if n > s.maxSent {
			off, end := s.span(n)
			s.maxSent = n
			s.bytes += int64(end - off)
			s.t.flight.Add(int64(end - off))
		} else {
			s.t.resent++
		}
	}
	return top, last, nil
}

// span is where block n's data lies relative to buf[4:]; it must be
// loaded.
func (s *sender) span(n uint64) (off, end int) {
	off = int(n-s.first) * s.t.blksize
	return off, min(off+s.t.blksize, s.loaded)
}

// sendBlocks sends the loaded blocks from..to: as many at a time as one
// UDP GSO send takes, or one by one when the kernel cannot segment them.
func (s *sender) sendBlocks(from, to uint64) error {
	per := uint64(max(1, min(gsoMaxSegments, gsoMaxBytes/(4+s.t.blksize))))
	for n := from; n <= to; {
		k := min(per, to-n+1)
		if k > 1 && s.segmentable() {
			err := s.sendSegments(n, n+k-1)
			if err == nil {
				n += k
				continue
			}
			if !errors.Is(err, errGSOUnsupported) {
				return err
			}
			s.noGSO = true // and send these one by one
		}
		off, end := s.span(n)
		if err := s.sendBlock(n, off, end); err != nil {
			return err
		}
		n++
	}
	return nil
}

// segmentable says whether windows can go out with UDP GSO, preparing
// it the first time.
func (s *sender) segmentable() bool {
	if s.gso == nil && !s.noGSO {
		s.gso = newSegmenter(s.t.conn, s.t.peer)
		s.noGSO = s.gso == nil
	}
	return !s.noGSO
}

// sendSegments sends the loaded blocks from..to with one UDP GSO send:
// each block's header from hdrs, its data from buf, segments of 4+blksize
// bytes (only the last block of a file is shorter, and it is the last
// segment).
func (s *sender) sendSegments(from, to uint64) error {
	s.iov = s.iov[:0]
	for n := from; n <= to; n++ {
		h := &s.hdrs[n-from]
		binary.BigEndian.PutUint16(h[:], opDATA)
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		off, end := s.span(n)
		s.iov = append(s.iov, h[:], s.buf[4+off:4+end])
	}
	send := s.gso.send
	if s.t.s.gsoSend != nil {
		send = func(b [][]byte, seg int) error { return s.t.s.gsoSend(s.gso, b, seg) }
	}
	err := send(s.iov, 4+s.t.blksize)
	clear(s.iov) // keep no reference to buf
	if err == nil {
		s.t.sent += int(to - from + 1)
	}
	return err
}

// block makes sure block n is in buf, reading more as needed, and returns
// where its data lies relative to buf[4:], and whether it is the last
// block (shorter than blksize, possibly empty). base is the lowest block
// that may still be resent; data before it may be dropped.
func (s *sender) block(n, base uint64) (off, end int, last bool, err error) {
	blk := s.t.blksize
	off = int(n-s.first) * blk
	for off+blk > s.loaded && !s.eof {
		if 4+s.loaded == len(s.buf) {
			s.compact(base)
			off = int(n-s.first) * blk
		}
		if err := s.fill(); err != nil {
			return 0, 0, false, err
		}
	}
	end = min(off+blk, s.loaded)
	return off, end, end-off < blk, nil
}

// compact moves the data from block base on to the front of buf.
func (s *sender) compact(base uint64) {
	k := int(base-s.first) * s.t.blksize
	copy(s.buf[4:], s.buf[4+k:4+s.loaded])
	s.loaded -= k
	s.first = base
}

// fill reads once into the free end of buf.
func (s *sender) fill() error {
	free := s.buf[4+s.loaded:]
	if len(free) == 0 {
		return errors.New("tftp: send buffer full") // cannot happen: the window fits
	}
	n, err := s.src.Read(free)
	s.loaded += n
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil:
		s.readErr = err
		return refuse(err)
	}
	return nil
}

// sendBlock sends block n, whose data is buf[4+off:4+end], with its header
// in buf[off:off+4].
func (s *sender) sendBlock(n uint64, off, end int) error {
	var saved [4]byte
	h := s.buf[off : off+4]
	copy(saved[:], h)
	binary.BigEndian.PutUint16(h, opDATA)
	binary.BigEndian.PutUint16(h[2:], uint16(n))
	err := s.t.send(s.buf[off : 4+end])
	copy(h, saved[:])
	return err
}

// waitACK waits for an ACK of a block in [base, top] and returns it.
// Duplicate ACKs, of base-1 or older, are ignored: answering them would
// send every later block twice (the Sorcerer's Apprentice, RFC 1123
// section 4.2.3.1); only the timer retransmits.
func (s *sender) waitACK(base, top uint64) (uint64, error) {
	for {
		p, err := s.t.recv()
		if err != nil {
			return 0, err
		}
		if binary.BigEndian.Uint16(p) != opACK {
			return 0, errIllegal
		}
		d := binary.BigEndian.Uint16(p[2:]) - uint16(base-1)
		if d == 0 || uint64(d) > top-(base-1) {
			continue
		}
		return base - 1 + uint64(d), nil
	}
}

// handshake sends the OACK and waits for its ACK of block 0 (RFC 2347).
// A client that does not like the OACK answers ERROR 8, which ends the
// transfer as a peer abort (UEFI firmware does that to learn a size). The
// ACK of block 0 is the peer's first answer.
func (s *sender) handshake() error {
	t := s.t
	oack := packOACK(t.oack)
	for retries := 0; ; retries++ {
		if retries > 0 {
			t.resent++
		}
		if err := t.send(oack); err != nil {
			return err
		}
		sentAt := time.Now()
		t.arm()
		for {
			p, err := t.recv()
			if errors.Is(err, errPeerTimeout) && retries < t.retries() {
				t.timer.expired() // not sampled yet: always the full timeout
				break
			}
			if err != nil {
				return err
			}
			if binary.BigEndian.Uint16(p) != opACK {
				return errIllegal
			}
			if binary.BigEndian.Uint16(p[2:]) == 0 {
				s.answered()
				if retries == 0 {
					t.timer.sample(time.Since(sentAt))
				}
				return nil
			}
		}
	}
}
