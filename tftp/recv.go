package tftp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
)

// receiver takes DATA blocks from the peer into an upload (RFC 1350), with
// one ACK per window of blocks (RFC 7440 section 4; a window of 1 is
// lock-step). The upload (a temporary file and its write buffer) is created
// at block 1, not at the request: a forged WRQ costs no file.
type receiver struct {
	t      *transfer
	create func() (*sink, error) // the upload, at block 1
	sink   *sink
	err    error // why create failed, for the log
	bytes  int64 // data bytes of distinct blocks received
	last   uint64
	ack    [4]byte

	// Out-of-order blocks since the last in-order one (see strayACK).
	strayed   bool
	lastStray uint16
}

// run receives blocks until the last one (shorter than blksize), commits
// the upload and returns; the final ACK is then up to the caller, so the
// client learns of a failed commit instead of a success.
func (r *receiver) run() error {
	t := r.t
	reply := putACK(r.ack[:], 0)
	if t.oack != nil {
		reply = packOACK(t.oack)
	}
	if err := t.send(reply); err != nil {
		return err
	}
	t.arm()
	expect := uint64(1)
	inWindow, retries := 0, 0
	for {
		p, err := t.recv()
		if errors.Is(err, errPeerTimeout) {
			// RFC 7440 section 4: on timeout, acknowledge the last block
			// received in order; before block 1, repeat the first reply.
			if retries++; retries > t.retries() {
				return err
			}
			if expect > 1 {
				reply = putACK(r.ack[:], uint16(expect-1))
			}
			t.resent++
			if err := t.send(reply); err != nil {
				return err
			}
			inWindow = 0 // the peer resends its window from expect
			t.arm()
			continue
		}
		if err != nil {
			return err
		}
		if binary.BigEndian.Uint16(p) != opDATA || len(p)-4 > t.blksize {
			return errIllegal
		}
		t.verify() // DATA at our port: the peer heard our reply
		if blk := binary.BigEndian.Uint16(p[2:]); blk != uint16(expect) {
			if r.strayACK(blk) {
				t.send(putACK(r.ack[:], uint16(expect-1)))
				inWindow = 0 // the peer restarts its window from expect
				t.arm()
			}
			continue
		}
		r.strayed = false
		if err := r.write(p[4:]); err != nil {
			return err
		}
		r.last = expect
		expect++
		retries = 0
		if len(p)-4 < t.blksize {
			return r.sink.commit()
		}
		if inWindow++; inWindow == t.window {
			inWindow = 0
			reply = putACK(r.ack[:], uint16(expect-1))
			if err := t.send(reply); err != nil {
				return err
			}
		}
		t.arm()
	}
}

// strayACK says whether an out-of-order block calls for an ACK of the last
// block received in order (RFC 7440 section 4). One ACK answers a whole
// round of them: a gap (blocks after a lost one, which the sender resends
// from the ACKed block on), or a window resent because the peer missed our
// ACK (its blocks, all duplicates, come in ascending order). A stray that
// does not follow the previous one starts a new round and gets its own
// ACK, so a lock-step peer (RFC 1350) that resends its block after each
// lost ACK gets one ACK each time. ACKing every duplicate instead would
// make a resent window of n blocks cost n ACKs.
func (r *receiver) strayACK(blk uint16) bool {
	round := !r.strayed || blk != r.lastStray+1
	r.strayed, r.lastStray = true, blk
	return round
}

// write stores the data of the next block, creating the upload at block 1.
func (r *receiver) write(data []byte) error {
	if r.sink == nil {
		k, err := r.create()
		if err != nil {
			r.err = err
			return refuse(err)
		}
		r.sink = k
		r.t.hold(sinkBufSize)
	}
	if err := r.sink.write(data); err != nil {
		return err
	}
	r.bytes += int64(len(data))
	r.t.flight.Add(int64(len(data)))
	return nil
}

// discard throws away an upload that was not committed; after a commit it
// does nothing.
func (r *receiver) discard() {
	if r.sink != nil {
		r.sink.up.Abort()
	}
}

// cause is the real error behind a failed upload, for the log.
func (r *receiver) cause() error {
	if r.sink != nil && r.sink.err != nil {
		return r.sink.err
	}
	return r.err
}

// ackLast acknowledges the last block.
func (r *receiver) ackLast() error {
	return r.t.send(putACK(r.ack[:], uint16(r.last)))
}

// dally waits one timeout after the final ACK to answer a repeat of the
// last block, in case that ACK was lost (RFC 1350 section 6).
func (r *receiver) dally() {
	t := r.t
	t.arm()
	for {
		p, err := t.recv()
		if err != nil || binary.BigEndian.Uint16(p) != opDATA || binary.BigEndian.Uint16(p[2:]) != uint16(r.last) {
			return
		}
		t.resent++
		r.ackLast()
	}
}

// sink is where upload data goes: through a netascii decoder if need be,
// a buffer and the size cap, into the store's atomic upload.
type sink struct {
	up  Upload
	n   int64 // bytes handed to up
	bw  *bufio.Writer
	na  *netasciiWriter // nil in octet mode
	max int64           // size cap, <= 0 none
	err error           // the real error, for the log
}

// sinkBufSize is the write buffer of an upload: one write(2) per 64 KiB.
const sinkBufSize = 64 << 10

func newSink(up Upload, netascii bool, max int64) *sink {
	k := &sink{up: up, max: max}
	k.bw = bufio.NewWriterSize(countWriter{k}, sinkBufSize)
	if netascii {
		k.na = &netasciiWriter{w: k.bw}
	}
	return k
}

func (k *sink) write(p []byte) error {
	var err error
	if k.na != nil {
		_, err = k.na.Write(p)
	} else {
		_, err = k.bw.Write(p)
	}
	if err == nil {
		err = k.checkSize()
	}
	return k.fail(err)
}

// checkSize refuses an upload as soon as it passes the cap, before it is
// flushed to disk.
func (k *sink) checkSize() error {
	if n := k.n + int64(k.bw.Buffered()); k.max > 0 && n > k.max {
		return fmt.Errorf("upload over %d bytes: %w", k.max, ErrTooLarge)
	}
	return nil
}

func (k *sink) commit() error {
	var err error
	if k.na != nil {
		err = k.na.Flush()
	} else {
		err = k.bw.Flush()
	}
	if err == nil {
		err = k.checkSize()
	}
	if err == nil {
		err = k.up.Commit()
	}
	return k.fail(err)
}

func (k *sink) fail(err error) error {
	if err == nil {
		return nil
	}
	k.err = err
	return refuse(err)
}

// countWriter counts what the sink's buffer hands to its upload.
type countWriter struct{ k *sink }

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.k.up.Write(p)
	c.k.n += int64(n)
	return n, err
}
