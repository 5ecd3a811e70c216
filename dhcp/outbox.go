package dhcp

import (
	"io"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rs/zerolog"
	"golang.org/x/net/ipv4"
)

// work is one datagram being answered: its own copy of the datagram, the
// request decoded over it, and, once there is one, the reply, where it
// goes and what to record when it has gone. The server keeps works in a
// pool: answering a request allocates none of this.
type work struct {
	in   []byte // the datagram
	peer net.Addr
	req  dhcpv4.DHCPv4

	resp    *dhcpv4.DHCPv4
	dst     *net.UDPAddr
	out     []byte // resp's bytes
	facts   clientFacts
	decided string // the config key that chose the boot information
	log     zerolog.Logger
	proxy   proxyReply // proxy mode: what the proxy's log line and metrics say
	sendErr error
	// pending: a REQUEST whose ACK waits for its commit (commitThen); it
	// holds a place in max_handlers and in Shutdown's wait until sent.
	pending bool
}

// newWork takes a work from the pool for datagram b from peer, copying b.
func (s *Server) newWork(peer net.Addr, b []byte) *work {
	w := s.works.Get().(*work)
	w.in = append(w.in[:0], b...)
	w.peer = peer
	return w
}

// release returns w to the pool, dropping what it refers to.
func (s *Server) release(w *work) {
	if w.pending {
		s.handlerDone()
	}
	if w.resp != nil {
		s.replies.Put(w.resp)
	}
	in, out, req := w.in, w.out, w.req
	*w = work{in: in[:0], out: out[:0], req: dhcpv4.DHCPv4{Options: req.Options}}
	s.works.Put(w)
}

// reply makes resp, going to dst, w's reply.
func (w *work) reply(resp *dhcpv4.DHCPv4, dst *net.UDPAddr, facts clientFacts, decided string, log zerolog.Logger) {
	w.resp, w.dst, w.facts, w.decided, w.log = resp, dst, facts, decided, log
	w.out = appendPacket(w.out[:0], resp)
}

// batchWriter is a socket that sends several datagrams per call:
// *ipv4.PacketConn (sendmmsg), or a test's stand-in.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// outbox sends replies on one socket, as many as were added with one
// system call (sendmmsg) where the socket allows, and then records each
// (metrics, the ACK's log line, the boot timeline) and releases its work.
type outbox struct {
	s     *Server
	conn  net.PacketConn
	batch batchWriter // nil: one WriteTo per reply
	works []*work
	msgs  []ipv4.Message
}

func (s *Server) newOutbox(conn net.PacketConn) *outbox {
	o := &outbox{s: s, conn: conn}
	inner := conn
	if p, ok := conn.(pxePortConn); ok {
		inner = p.PacketConn
	}
	switch c := inner.(type) {
	case batchWriter:
		o.batch = c
	case *net.UDPConn:
		o.batch = ipv4.NewPacketConn(c)
	}
	return o
}

// add queues w, whose reply is set, for the next flush.
func (o *outbox) add(w *work) { o.works = append(o.works, w) }

// flush sends the queued replies, in order, and records and releases
// their works. A reply that cannot be sent is counted
// (drops_total{reason="send_failed"}) and logged; the others still go.
func (o *outbox) flush() {
	if len(o.works) == 0 {
		return
	}
	if o.batch == nil || len(o.works) == 1 {
		for _, w := range o.works {
			_, w.sendErr = o.conn.WriteTo(w.out, w.dst)
		}
	} else {
		o.sendBatch()
	}
	for i, w := range o.works {
		o.s.sent(w)
		o.s.release(w)
		o.works[i] = nil
	}
	o.works = o.works[:0]
}

// sendBatch sends every queued reply with as few sendmmsg calls as the
// kernel allows. sendmmsg stops at the first datagram it cannot send; that
// one gets the error and the rest are sent on.
func (o *outbox) sendBatch() {
	for len(o.msgs) < len(o.works) {
		o.msgs = append(o.msgs, ipv4.Message{Buffers: make([][]byte, 1)})
	}
	ms := o.msgs[:len(o.works)]
	for i, w := range o.works {
		ms[i].Buffers[0], ms[i].Addr = w.out, w.dst
	}
	for i := 0; i < len(ms); {
		n, err := o.batch.WriteBatch(ms[i:], 0)
		if n > 0 {
			i += n // an error after the first datagram comes at the next call
			continue
		}
		if err == nil {
			err = io.ErrShortWrite
		}
		o.works[i].sendErr = err
		i++
	}
	for i := range ms {
		ms[i].Buffers[0], ms[i].Addr = nil, nil
	}
}

// sent records w's reply once it has gone, or why it did not. It may run
// on the lease store's committer goroutine, which must outlive a bug here.
func (s *Server) sent(w *work) {
	defer func() {
		if r := recover(); r != nil {
			s.m.drop("panic")
			s.log.Error().Interface("panic", r).Msg("dhcp handler panic")
		}
	}()
	if w.proxy.port != "" {
		s.proxySent(w)
		return
	}
	if w.sendErr != nil {
		s.m.drop("send_failed")
		w.log.Warn().Err(w.sendErr).Str("to", w.dst.String()).Msg("dhcp reply not sent")
		return
	}
	s.m.replies.WithLabelValues(typeName(msgType(w.resp))).Inc()
	s.answered(&w.req, w.resp, w.facts, w.decided, w.log)
}
