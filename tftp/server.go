package tftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
)

// retransmitDelay replaces pin/tftp's default backoff, a random sleep of up
// to a second on top of the timeout before each retransmission. The timeout
// already spaces retransmissions; a long random pause only slows transfers
// on lossy links (each lost packet would cost timeout + ~0.5s).
const retransmitDelay = 10 * time.Millisecond

// Server answers TFTP requests from one image store.
type Server struct {
	cfg   Config
	store *images.Store
	log   zerolog.Logger
	m     *metrics

	slots   chan struct{} // one token per running transfer, cap MaxTransfers
	stop    chan struct{} // closed at the drain deadline: transfers abort
	stopped sync.Once
	serving atomic.Bool
	stats   statsBoard
	virtual atomic.Pointer[VirtualFunc] // SetVirtual, virtual.go
}

// New checks cfg, fills its defaults, registers the metrics on reg and, when
// writes are enabled, creates the upload folder in store.
func New(cfg Config, store *images.Store, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("tftp: no image store")
	}
	if cfg.AllowWrite {
		if err := store.MkdirAll(cfg.UploadDir); err != nil {
			return nil, fmt.Errorf("tftp: upload folder %q: %w", cfg.UploadDir, err)
		}
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("tftp: metrics: %w", err)
	}
	return &Server{
		cfg:   cfg,
		store: store,
		log:   log,
		m:     m,
		slots: make(chan struct{}, cfg.MaxTransfers),
		stop:  make(chan struct{}),
		stats: statsBoard{m: map[string]*statsSlot{}},
	}, nil
}

// Serve answers requests arriving on conn, which must be a *net.UDPConn
// (pin/tftp needs it to learn the local address and MTU of each request),
// until ctx is cancelled. Then it closes conn, lets transfers in flight
// finish for up to DrainTimeout, stops the rest and returns nil. Serve may
// be called once per Server.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		if conn != nil {
			conn.Close()
		}
		return fmt.Errorf("tftp: Serve needs a *net.UDPConn, got %T", conn)
	}
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("tftp: Serve called twice")
	}
	lib := tftp.NewServer(s.handleRead, s.handleWrite)
	lib.SetTimeout(s.cfg.Timeout)
	lib.SetRetries(s.cfg.Retries)
	lib.SetBlockSize(s.cfg.MaxBlockSize)
	lib.SetBackoff(func(int) time.Duration { return retransmitDelay })
	lib.SetAnticipate(uint(s.cfg.Anticipate))
	lib.SetHook(hook{s})

	done := make(chan error, 1)
	go func() { done <- lib.Serve(udp) }()
	select {
	case err := <-done: // only on a broken socket: pin/tftp loops otherwise
		udp.Close()
		lib.Shutdown()
		return fmt.Errorf("tftp: %w", err)
	case <-ctx.Done():
	}
	s.drain(lib, udp)
	<-done
	return nil
}

// drain stops accepting, waits up to DrainTimeout for running transfers,
// then makes the rest abort with an ERROR "server shutting down" at their
// next packet, waiting one more Timeout for them.
func (s *Server) drain(lib *tftp.Server, conn *net.UDPConn) {
	conn.Close()
	finished := make(chan struct{})
	go func() {
		lib.Shutdown() // closes conn (again) and waits for all transfers
		close(finished)
	}()
	n := len(s.slots)
	s.log.Info().Int("in_flight", n).Dur("drain_timeout", s.cfg.DrainTimeout).Msg("tftp draining")
	deadline := time.NewTimer(s.cfg.DrainTimeout)
	defer deadline.Stop()
	select {
	case <-finished:
		return
	case <-deadline.C:
	}
	s.log.Warn().Int("in_flight", len(s.slots)).Msg("tftp drain deadline passed, stopping transfers")
	s.stopped.Do(func() { close(s.stop) })
	grace := time.NewTimer(s.cfg.Timeout + time.Second)
	defer grace.Stop()
	select {
	case <-finished:
	case <-grace.C:
		s.log.Warn().Int("in_flight", len(s.slots)).Msg("tftp transfers still waiting on their peers, leaving them")
	}
}

// acquire takes a transfer slot without waiting.
func (s *Server) acquire() bool {
	select {
	case s.slots <- struct{}{}:
		s.m.inFlight.Inc()
		return true
	default:
		return false
	}
}

func (s *Server) release() {
	<-s.slots
	s.m.inFlight.Dec()
}

// hook receives pin/tftp's per-transfer statistics and its errors for
// packets that never became a transfer.
type hook struct{ s *Server }

func (h hook) OnSuccess(st tftp.TransferStats) { h.s.stats.put(st) }

func (h hook) OnFailure(st tftp.TransferStats, err error) {
	if st.RemoteAddr != nil {
		h.s.stats.put(st)
		return
	}
	// pin/tftp drops malformed first packets (short, unknown opcode, stray
	// DATA/ACK, RRQ without mode) without replying; a failed socket for a
	// new transfer also lands here.
	var oe *net.OpError
	if errors.As(err, &oe) {
		h.s.m.refusals.WithLabelValues(reasonResources).Inc()
		h.s.log.Warn().Err(err).Msg("tftp cannot open a transfer socket")
		return
	}
	h.s.m.refusals.WithLabelValues(reasonMalformed).Inc()
	h.s.log.Debug().Err(err).Msg("tftp packet dropped")
}
