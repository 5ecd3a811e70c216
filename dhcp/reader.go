package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/ipv4"
)

// readBatch is the most datagrams one read takes (recvmmsg on Linux): under
// load the socket holds a queue, and one system call and one wake-up then
// serve many requests.
const readBatch = 32

// maxDatagram is the largest DHCP message read whole: an Ethernet MTU.
const maxDatagram = 1500

// batchReader is a socket that reads several datagrams per call:
// *ipv4.PacketConn (recvmmsg), or a test's stand-in.
type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// packetReader reads datagrams from one socket into buffers it reuses.
type packetReader struct {
	conn  net.PacketConn
	batch batchReader // nil: one ReadFrom per datagram
	msgs  []ipv4.Message
}

// newPacketReader reads conn in batches when it is a *net.UDPConn (or a
// batchReader), else one datagram at a time.
func newPacketReader(conn net.PacketConn) *packetReader {
	r := &packetReader{conn: conn}
	inner := conn
	if p, ok := conn.(pxePortConn); ok {
		inner = p.PacketConn
	}
	switch c := inner.(type) {
	case batchReader:
		r.batch = c
	case *net.UDPConn:
		r.batch = ipv4.NewPacketConn(c)
	}
	n := readBatch
	if r.batch == nil {
		n = 1
	}
	r.msgs = make([]ipv4.Message, n)
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	return r
}

// read reads one or more datagrams: r.msgs[:n], each with its length (N)
// and source (Addr). The buffers are overwritten by the next read.
func (r *packetReader) read() (int, error) {
	if r.batch != nil {
		return r.batch.ReadBatch(r.msgs, 0)
	}
	m := &r.msgs[0]
	n, addr, err := r.conn.ReadFrom(m.Buffers[0])
	if err != nil {
		return 0, err
	}
	m.N, m.Addr = n, addr
	return 1, nil
}

// datagram is the ith datagram of the last read.
func (r *packetReader) datagram(i int) (net.Addr, []byte) {
	m := &r.msgs[i]
	return m.Addr, m.Buffers[0][:m.N]
}

// Backoff after a read error, doubling from the first to the last.
const (
	readBackoffMin = time.Millisecond
	readBackoffMax = 200 * time.Millisecond
)

// readRetry decides what a failed read on conn means; backoff is the
// socket's current wait, which it doubles. The deadline wake-ups that
// cancellation uses are passed over (retry without a wait, or stop once
// ctx is done: false and a nil error). A closed socket stops reading with
// its error. Any other read error is about one datagram or one moment
// (ENOBUFS or ENOMEM under memory pressure, EINTR, a queued ICMP error as
// ECONNREFUSED, ENETDOWN while the interface flaps): it is counted in
// read_errors_total{socket}, logged (sampled) and the read retried after
// a short backoff, so the service never stops for it.
func (s *Server) readRetry(ctx context.Context, conn net.PacketConn, sock string, err error, backoff *time.Duration) (bool, error) {
	if ctx.Err() != nil {
		return false, nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true, nil
	}
	if errors.Is(err, net.ErrClosed) {
		return false, fmt.Errorf("dhcp read on %s: %w", conn.LocalAddr(), err)
	}
	s.m.readErrors.WithLabelValues(sock).Inc()
	*backoff = min(max(2**backoff, readBackoffMin), readBackoffMax)
	if ok, n := s.readSample.allow(s.now()); ok {
		s.log.Warn().Err(err).Str("socket", sock).Dur("retry_in", *backoff).Int("suppressed", n).
			Msg("dhcp read error; retrying")
	}
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, nil
	case <-t.C:
		return true, nil
	}
}

// readPacket reads the next datagram into buf, retrying as readRetry
// says. It returns a nil peer and nil error once ctx is done, and an
// error only when conn is closed.
func (s *Server) readPacket(ctx context.Context, conn net.PacketConn, buf []byte, sock string) (int, net.Addr, error) {
	var backoff time.Duration
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err == nil {
			return n, peer, nil
		}
		if more, err := s.readRetry(ctx, conn, sock, err, &backoff); !more {
			return 0, nil, err
		}
	}
}

// readSome reads the next datagrams with r, retrying as readRetry says.
// It returns 0 and a nil error once ctx is done, and an error only when
// the socket is closed.
func (s *Server) readSome(ctx context.Context, r *packetReader, sock string) (int, error) {
	var backoff time.Duration
	for {
		n, err := r.read()
		switch {
		case err == nil && n > 0:
			return n, nil
		case err == nil:
			continue
		}
		// With an error, even datagrams counted in n may lack their
		// source address (x/net stops decoding at a bad one): none is
		// answered.
		if more, err := s.readRetry(ctx, r.conn, sock, err, &backoff); !more {
			return 0, err
		}
	}
}
