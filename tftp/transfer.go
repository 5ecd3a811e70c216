package tftp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// transfer is one request being served: its own UDP socket (the server's
// TID, RFC 1350 section 4), the peer it talks to, what was negotiated, and
// the child logger its lines go to.
type transfer struct {
	s     *Server
	cfg   *Config // the server's config when the request came
	dir   string
	file  string // the name as the client sent it, for logs only
	mode  string
	peer  netip.AddrPort
	local netip.Addr // the address the request arrived at; invalid if unknown
	conn  *net.UDPConn
	start time.Time
	log   zerolog.Logger

	params
	slot     *slot              // its place in the admission counts
	verified bool               // the peer has answered from its address (see verify)
	timer    rtoTimer           // how long to wait for the peer before retransmitting
	sent     int                // datagrams sent, retransmissions included
	resent   int                // of which retransmissions
	rbuf     []byte             // receive buffer
	deadline time.Time          // of the current wait
	held     int                // buffer bytes counted in bootsrv_tftp_buffer_bytes
	flight   *inflight.Transfer // its progress, for the console; nil: untracked
}

// peerError is an ERROR packet received from the peer.
type peerError struct {
	code uint16
	msg  string
}

func (e *peerError) Error() string {
	return "peer sent error " + strconv.Itoa(int(e.code)) + ": " + e.msg
}

// errPeerTimeout: the peer did not answer within retries x timeout.
var errPeerTimeout = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string { return "peer stopped answering" }
func (timeoutError) Timeout() bool { return true }

// newTransfer opens the transfer's socket on local (the address the request
// arrived on; unspecified lets the kernel choose) at an ephemeral port.
func (s *Server) newTransfer(dir string, sl *slot, req requestPacket, peer netip.AddrPort, local netip.Addr) (*transfer, error) {
	cfg := s.conf()
	t := &transfer{s: s, dir: dir, file: req.file, mode: req.mode, peer: peer, local: local, start: time.Now(), slot: sl,
		params: params{blksize: defaultBlockSize, window: 1}, timer: newRTOTimer(cfg.Timeout, cfg.MinTimeout), cfg: cfg}
	t.log = s.log.With().Str("direction", dir).Str("peer", peer.String()).Str("file", req.file).Logger()
	laddr := &net.UDPAddr{}
	if local.IsValid() {
		laddr.IP = local.AsSlice()
		laddr.Zone = local.Zone()
	}
	network := "udp4"
	if peer.Addr().Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	t.conn = c
	s.track(c, true)
	return t, nil
}

// track makes the transfer visible in cfg.Transfers while it runs; size
// is -1 when not known.
func (t *transfer) track(upload bool, size int64) {
	t.flight = t.cfg.Transfers.Start(inflight.Info{Service: "tftp", Upload: upload,
		File: strings.TrimLeft(t.file, "/"), Peer: t.peer.String(), Size: size})
}

// close releases what the transfer holds: socket, slot, buffers, its
// place among the transfers in flight.
func (t *transfer) close() {
	t.flight.Done()
	t.s.track(t.conn, false)
	t.conn.Close()
	t.s.adm.leave(t.slot)
	t.hold(-t.held)
}

// hold counts n more (or, negative, fewer) buffer bytes held.
func (t *transfer) hold(n int) {
	t.held += n
	t.s.m.buffers.Add(float64(n))
}

// verify records that the peer has answered from its address: it hears
// the server, so the request was not forged. From here on the transfer
// gets the full retries and the client's timeout option (RFC 2349) as the
// ceiling of its timer; before, only the server's own timeout and
// unverified_retries, whatever the request asked.
func (t *transfer) verify() {
	if t.verified {
		return
	}
	t.verified = true
	t.s.adm.verified(t.slot)
	if t.timeout > 0 {
		t.timer.ceiling(t.timeout)
	}
}

// retries is how many full-timeout waits in a row the transfer allows.
func (t *transfer) retries() int {
	if t.verified {
		return t.cfg.Retries
	}
	return max(0, t.cfg.UnverifiedRetries)
}

// send writes one datagram to the peer.
func (t *transfer) send(p []byte) error {
	t.sent++
	_, err := t.conn.WriteToUDPAddrPort(p, t.peer)
	return err
}

// sendError tells the peer why the transfer ends. Best effort: the peer may
// be gone, and the transfer ends either way.
func (t *transfer) sendError(code uint16, msg string) {
	if err := t.send(packError(code, msg)); err != nil {
		t.log.Debug().Err(err).Msg("tftp error packet not sent")
	}
}

// arm starts waiting for the peer: replies are expected within the timer.
func (t *transfer) arm() { t.deadline = time.Now().Add(t.timer.rto) }

// recv returns the next datagram from the peer, at least 4 bytes long,
// before the armed deadline. Datagrams from any other address or port get
// ERROR 5 and are otherwise ignored (RFC 1350 section 4), so a stray or
// spoofed packet neither ends the transfer nor extends its wait. It
// returns errPeerTimeout at the deadline, errShutdown once the drain
// deadline has passed, errEvicted when an unverified transfer lost its
// slot, and a *peerError for an ERROR from the peer.
func (t *transfer) recv() ([]byte, error) {
	if err := t.conn.SetReadDeadline(t.deadline); err != nil {
		return nil, err
	}
	for {
		// After setting the deadline: drain and eviction wake transfers
		// by moving it to the past after closing stop or setting evicted,
		// so one of the two is seen.
		if err := t.stopped(); err != nil {
			return nil, err
		}
		n, from, err := t.conn.ReadFromUDPAddrPort(t.rbuf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if err := t.stopped(); err != nil {
					return nil, err
				}
				return nil, errPeerTimeout
			}
			return nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if from != t.peer {
			t.conn.WriteToUDPAddrPort(packError(codeUnknownTID, "unknown transfer ID"), from)
			continue
		}
		p := t.rbuf[:n]
		if n < 4 {
			continue // not even an opcode and block or code: line noise
		}
		if binary.BigEndian.Uint16(p) == opERROR {
			pe := &peerError{code: binary.BigEndian.Uint16(p[2:])}
			if i := len(p) - 1; i >= 4 && p[i] == 0 {
				pe.msg = string(p[4:i])
			}
			return nil, pe
		}
		return p, nil
	}
}

// stopped says whether the transfer must end now, not by its peer.
func (t *transfer) stopped() error {
	select {
	case <-t.s.stop:
		return errShutdown
	default:
	}
	if t.slot.evicted.Load() {
		return errEvicted
	}
	return nil
}

// refuse counts and logs a request turned down before any data moved, and
// tells the client, from the transfer's own port, with the RFC 1350
// section 5 code.
func (t *transfer) refuse(r *refusal) {
	t.s.m.refusals.WithLabelValues(r.reason).Inc()
	ev := t.log.Info()
	if r.cause != nil {
		ev = ev.AnErr("cause", r.cause)
	}
	ev.Str("reason", r.reason).Int("code", int(r.code)).Msg("tftp request refused")
	t.sendError(r.code, r.msg)
	t.record(event.Refusal, event.Failed, 0, r.reason)
}

// record tells the boot timeline about the transfer (cfg.Events). The
// file is named as the store sees it, without the leading "/" TFTP
// clients often send, so that it matches the DHCP bootfile.
func (t *transfer) record(kind event.Kind, result event.Result, n int64, detail string) {
	if t.cfg.Events == nil {
		return
	}
	t.cfg.Events.Record(event.Event{IP: t.peer.Addr().Unmap(), Service: event.TFTP, Kind: kind, Result: result,
		File: strings.TrimLeft(t.file, "/"), Bytes: n, Duration: time.Since(t.start), Detail: detail})
}

// finish accounts for a transfer that ran: one log line, the metrics. n is
// the data bytes moved (each block counted once).
func (t *transfer) finish(n int64, err, ioErr error) {
	d := time.Since(t.start)
	result := endResult(err)
	if result == resultTimeout && !t.verified {
		result = resultUnverifiedTimeout
	}
	m := t.s.m
	m.transfers.WithLabelValues(t.dir, result).Inc()
	m.bytes.WithLabelValues(t.dir).Add(float64(n))
	m.duration.WithLabelValues(t.dir).Observe(d.Seconds())
	var r *refusal
	if errors.As(err, &r) {
		m.refusals.WithLabelValues(r.reason).Inc()
	}
	ev := t.log.Info()
	switch result {
	case resultOK, resultPeerAbort:
	case resultUnverifiedTimeout, resultEvicted:
		// Forged requests end this way, one line each: kept out of the
		// default log, counted in the metrics.
		ev = t.log.Debug()
	default:
		ev = t.log.Warn()
	}
	if err != nil {
		ev = ev.AnErr("error", err)
	}
	if ioErr != nil {
		ev = ev.AnErr("cause", ioErr)
	}
	ev.Int64("bytes", n).Dur("duration", d).Str("mode", t.mode).Int("blksize", t.blksize).
		Int("windowsize", t.window).Int("datagrams", t.sent).Int("retransmits", t.resent).
		Str("result", result).Msg("tftp transfer")
	kind := event.Transfer
	if t.dir == dirWrite {
		kind = event.Upload
	}
	switch result {
	case resultOK:
		t.record(kind, event.OK, n, "")
	case resultPeerAbort, resultUnverifiedTimeout, resultEvicted:
		// A size probe (PXE ROMs abort after the OACK to learn tsize), or
		// a request nobody answered: no step of anyone's boot.
		if n > 0 {
			t.record(kind, event.Failed, n, result)
		}
	default:
		detail := result
		if err != nil {
			detail = err.Error()
		}
		t.record(kind, event.Failed, n, detail)
	}
}

// abort ends a running transfer on err: the peer is told unless the error
// came from it or it stopped answering.
func (t *transfer) abort(err error) {
	var pe *peerError
	var r *refusal
	switch {
	case errors.As(err, &pe), errors.Is(err, errPeerTimeout), errors.Is(err, errEvicted):
	case errors.Is(err, errShutdown):
		t.sendError(codeUndefined, errShutdown.Error())
	case errors.As(err, &r):
		t.sendError(r.code, r.msg)
	case errors.Is(err, errIllegal):
		t.sendError(codeIllegalOp, "illegal operation")
	default:
		t.sendError(codeUndefined, "i/o error")
	}
}
