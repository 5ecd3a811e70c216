package tftp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Server answers TFTP requests from what its Handler serves.
type Server struct {
	cfg atomic.Pointer[Config] // swapped whole by a reload; a transfer keeps the one it started with
	h   Handler
	log zerolog.Logger
	m   *metrics

	adm     *admission
	stop    chan struct{} // closed at the drain deadline: transfers abort
	stopped sync.Once
	serving atomic.Bool
	running sync.WaitGroup // transfer goroutines

	mu         sync.Mutex
	conns      map[*net.UDPConn]struct{} // transfer sockets, to wake them at the drain deadline
	stopListen context.CancelFunc        // stops Serve; nil before it runs

	// One log line a second at most for what a flood repeats per packet.
	refusedLog, socketLog, readErrLog logSampler

	// gsoSend, set by tests, replaces a transfer's UDP GSO send.
	gsoSend func(g *segmenter, bufs [][]byte, seg int) error
}

// New checks cfg, fills its defaults and registers the metrics on reg. h
// opens what reads ask for and creates what writes send.
func New(cfg Config, h Handler, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("tftp: no handler")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("tftp: metrics: %w", err)
	}
	if cfg.Anticipate > 1 {
		log.Warn().Int("anticipate", cfg.Anticipate).Msg("tftp.anticipate is ignored: clients negotiate windowsize (RFC 7440) instead")
	}
	s := &Server{
		h:          h,
		log:        log,
		m:          m,
		adm:        newAdmission(cfg, m),
		stop:       make(chan struct{}),
		conns:      map[*net.UDPConn]struct{}{},
		refusedLog: logSampler{every: time.Second},
		socketLog:  logSampler{every: time.Second},
		readErrLog: logSampler{every: time.Second},
	}
	s.cfg.Store(&cfg)
	return s, nil
}

// conf is the config in effect.
func (s *Server) conf() *Config { return s.cfg.Load() }

// PrepareReload checks cfg as New does and returns what puts it into
// effect: caps, timeouts, retries, block and window sizes, writes and the
// upload cap apply to requests from then on; transfers running keep the
// settings they started with. Nothing changes when it fails; apply cannot
// fail.
func (s *Server) PrepareReload(cfg Config) (apply func(), err error) {
	cfg.Events = s.conf().Events // who hears of transfers is not config
	cfg.Transfers = s.conf().Transfers
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return func() {
		s.cfg.Store(&cfg)
		s.adm.setLimits(cfg)
	}, nil
}

// Serve answers requests arriving on conn, which must be a *net.UDPConn,
// until ctx is cancelled or Shutdown is called. Each transfer runs in its
// own goroutine on its own socket, bound to the address the request was
// sent to (learnt with IP_PKTINFO when conn listens on a wildcard
// address). Read errors on conn other than its closing are retried (see
// listen). Serve returns once it has stopped reading requests; transfers
// in flight run on, for Shutdown to wait for. It never closes conn, which
// belongs to the caller. Serve may be called once per Server.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		return fmt.Errorf("tftp: Serve needs a *net.UDPConn, got %T", conn)
	}
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("tftp: Serve called twice")
	}
	var local netip.Addr
	if la, ok := udp.LocalAddr().(*net.UDPAddr); ok {
		local = la.AddrPort().Addr().Unmap()
	}
	if err := enableDstInfo(udp); err != nil {
		s.log.Warn().Err(err).Msg("tftp cannot learn request addresses (IP_PKTINFO); transfers answer from the kernel's choice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.stopListen = cancel
	s.mu.Unlock()
	// Wake the read that is waiting, without closing the socket.
	wake := context.AfterFunc(ctx, func() { udp.SetReadDeadline(time.Unix(1, 0)) })
	defer wake()
	if err := s.listen(ctx, udp, local); err != nil {
		return fmt.Errorf("tftp: listening socket: %w", err)
	}
	return nil
}

// Shutdown stops Serve reading requests and waits for the transfers in
// flight until ctx is done; then it stops the rest (each sends ERROR
// "server shutting down" to its peer at its next packet) and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopListen != nil {
		s.stopListen()
	}
	s.mu.Unlock()
	return s.drain(ctx)
}

// listen reads requests until ctx is done (nil) or conn is closed (the
// error). Any other read error is taken as transient: ENOBUFS or ENOMEM
// under memory pressure, ECONNREFUSED when an ICMP error about one of the
// listener's replies comes back (IP_RECVERR), EINTR. A listener that
// stopped on one would take the whole service down, so each is counted,
// logged at most once a second, and the read retried after a backoff that
// grows while the errors last and resets at the next datagram.
func (s *Server) listen(ctx context.Context, conn *net.UDPConn, local netip.Addr) error {
	buf := make([]byte, 65536)
	oob := make([]byte, oobSize)
	failures := 0
	for {
		n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			failures++
			s.m.readErrors.Inc()
			if ok, suppressed := s.readErrLog.allow(time.Now()); ok {
				s.log.Warn().Err(err).Int("suppressed", suppressed).Msg("tftp listener read failed, retrying")
			}
			pause(ctx, readBackoff(failures))
			continue
		}
		failures = 0
		dst, ifindex := parseDstInfo(oob[:oobn])
		if local.IsValid() && !local.IsUnspecified() {
			dst = local
		}
		s.dispatch(conn, buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), dst, ifindex)
	}
}

// readBackoff is the wait after the nth read error in a row: 1ms, doubling
// up to a second, so a lasting error costs no CPU and a passing one almost
// no time.
func readBackoff(n int) time.Duration {
	return min(time.Millisecond<<min(n-1, 10), time.Second)
}

// pause waits d, or until ctx is done.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// dispatch starts a transfer for a valid request. Malformed requests get
// ERROR 4 (RFC 1350 section 5); other packets sent to the server port
// (DATA, ACK, ERROR, unknown opcodes) are dropped without a reply, so the
// port cannot be used to bounce packets at a third party.
func (s *Server) dispatch(conn *net.UDPConn, p []byte, from netip.AddrPort, dst netip.Addr, ifindex int) {
	req, err := parseRequest(p)
	if err != nil || from.Port() == 0 {
		s.m.refusals.WithLabelValues(reasonMalformed).Inc()
		s.log.Debug().Str("peer", from.String()).Int("len", len(p)).Msg("tftp packet dropped")
		if err != nil && len(p) >= 2 && from.Port() != 0 {
			if op := binary.BigEndian.Uint16(p); op == opRRQ || op == opWRQ {
				conn.WriteToUDPAddrPort(packError(codeIllegalOp, "malformed request"), from)
			}
		}
		return
	}
	sl, r := s.adm.admit(from.Addr())
	if r != nil {
		s.refuseFromListener(conn, req, from, r, &s.refusedLog)
		return
	}
	s.running.Add(1)
	go s.serveRequest(conn, sl, req, from, dst, ifindex)
}

// refuseFromListener answers a request that gets no transfer with an
// ERROR from the listening socket. Floods make these per packet, so the
// log is sampled; the metric counts each one.
func (s *Server) refuseFromListener(conn *net.UDPConn, req requestPacket, from netip.AddrPort, r *refusal, sampler *logSampler) {
	s.m.refusals.WithLabelValues(r.reason).Inc()
	if ok, suppressed := sampler.allow(time.Now()); ok {
		ev := s.log.Info()
		if r.cause != nil {
			ev = s.log.Warn().AnErr("cause", r.cause)
		}
		ev.Str("direction", direction(req.op)).Str("peer", from.String()).Str("file", req.file).
			Str("reason", r.reason).Int("code", int(r.code)).Int("suppressed", suppressed).Msg("tftp request refused")
	}
	conn.WriteToUDPAddrPort(packError(r.code, r.msg), from)
}

func direction(op uint16) string {
	if op == opWRQ {
		return dirWrite
	}
	return dirRead
}

// serveRequest runs one transfer on its own socket. Without a socket
// (EMFILE, ENOBUFS, ...) the request is refused with "server busy" from the
// listening socket, best effort.
func (s *Server) serveRequest(lconn *net.UDPConn, sl *slot, req requestPacket, from netip.AddrPort, dst netip.Addr, ifindex int) {
	defer s.running.Done()
	t, err := s.newTransfer(direction(req.op), sl, req, from, dst)
	if err != nil {
		s.adm.leave(sl)
		s.refuseFromListener(lconn, req, from, &refusal{code: errBusy.code, msg: errBusy.msg, reason: reasonResources,
			cause: fmt.Errorf("transfer socket: %w", err)}, &s.socketLog)
		return
	}
	defer t.close()
	if !s.adm.attach(sl, t.conn) {
		t.finish(0, errEvicted, nil)
		return
	}
	lim := limits{maxBlock: s.blockLimit(t.cfg, ifindex, from.Addr().Is6()), maxWindow: t.cfg.MaxWindowSize, maxUpload: t.cfg.MaxUploadSize}
	if req.mode != modeOctet && req.mode != modeNetascii {
		t.refuse(errBadMode)
		return
	}
	if req.op == opWRQ {
		s.handleWrite(t, req, lim)
	} else {
		s.handleRead(t, req, lim)
	}
}

// blockLimit is max_block_size, lowered so that a DATA packet fits the
// MTU of the interface the request came in on: fragmented blocks are lost
// whole when one fragment is.
func (s *Server) blockLimit(cfg *Config, ifindex int, v6 bool) int {
	limit := cfg.MaxBlockSize
	if ifindex <= 0 {
		return limit
	}
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil || ifi.MTU <= 0 {
		return limit
	}
	hdr := 20 + 8 + 4 // IPv4, UDP, TFTP DATA headers
	if v6 {
		hdr = 40 + 8 + 4
	}
	return max(defaultBlockSize, min(limit, ifi.MTU-hdr))
}

// track adds or removes a transfer socket from the set drain wakes.
func (s *Server) track(c *net.UDPConn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

// drain waits until ctx is done for running transfers, then stops the
// rest: each sends ERROR "server shutting down" and ends.
func (s *Server) drain(ctx context.Context) error {
	finished := make(chan struct{})
	go func() {
		s.running.Wait()
		close(finished)
	}()
	s.log.Info().Int("in_flight", s.adm.inFlight()).Msg("tftp draining")
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
	}
	s.log.Warn().Int("in_flight", s.adm.inFlight()).Msg("tftp drain deadline passed, stopping transfers")
	s.stopped.Do(func() { close(s.stop) })
	s.mu.Lock()
	for c := range s.conns {
		c.SetReadDeadline(time.Now()) // wakes a waiting transfer, which then sees stop
	}
	s.mu.Unlock()
	grace := time.NewTimer(s.conf().Timeout + time.Second)
	defer grace.Stop()
	select {
	case <-finished:
	case <-grace.C:
		s.log.Warn().Int("in_flight", s.adm.inFlight()).Msg("tftp transfers still busy after the drain deadline, leaving them")
	}
	return ctx.Err()
}
