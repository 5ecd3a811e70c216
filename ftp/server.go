package ftp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/internal/listener"
	"github.com/bootsrv/bootsrv/internal/logsample"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Server is an FTP server over an image store. Create it with New.
type Server struct {
	cur       atomic.Pointer[live] // swapped whole by a reload
	store     *images.Store
	log       zerolog.Logger
	m         *metrics
	dummyHash []byte
	port20    bool               // active data connections leave from port 20
	events    event.Sink         // Config.Events as New got it; nil: nobody
	transfers *inflight.Registry // Config.Transfers as New got it; nil: nobody

	mu         sync.Mutex
	sessions   map[*session]struct{}
	perIP      map[netip.Addr]int
	passive    map[int]netip.Addr // announced passive port -> the client allowed on it
	uploading  map[string]bool    // partial names being written
	nextID     atomic.Uint64
	flight     flight
	acceptLog  *logsample.Sampler
	running    *running       // the Serve in progress; nil before and after
	sessionsWG sync.WaitGroup // session goroutines
}

// live is the part of the server a reload swaps whole: the config and
// what is derived from it.
type live struct {
	cfg   Config
	users map[string]User
	anon  *account
	tls   *tls.Config // nil: no FTPS
}

// prepare fills cfg's defaults, checks it and derives the rest.
func prepare(cfg Config) (*live, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &live{cfg: cfg, users: map[string]User{}}
	if cfg.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return nil, cfgerr.New("tls", err)
		}
		l.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	for _, u := range cfg.Users {
		l.users[u.Name] = u
	}
	root, _ := cleanDir(cfg.Anonymous.Root)
	l.anon = &account{name: "anonymous", anon: true, root: root}
	if cfg.Anonymous.Upload {
		l.anon.upload, _ = cleanDir(cfg.UploadDir)
	}
	return l, nil
}

// conf is the config in effect.
func (s *Server) conf() *Config { return &s.cur.Load().cfg }

// record tells the boot timeline (Config.Events) about e, an FTP event.
func (s *Server) record(e event.Event) {
	if s.events != nil {
		e.Service = event.FTP
		s.events.Record(e)
	}
}

// New checks cfg (after WithDefaults) and returns a server for store.
// Metrics are registered on reg.
func New(cfg Config, store *images.Store, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	l, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	cfg = l.cfg
	if store == nil {
		return nil, errors.New("ftp: nil image store")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("ftp metrics: %w", err)
	}
	s := &Server{
		store: store, log: log, m: m, events: cfg.Events, transfers: cfg.Transfers, acceptLog: logsample.New(time.Second),
		sessions:  map[*session]struct{}{},
		perIP:     map[netip.Addr]int{},
		passive:   map[int]netip.Addr{},
		uploading: map[string]bool{},
		port20:    !cfg.ActiveAnyPort && canBindPrivileged(),
	}
	s.cur.Store(l)
	s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("bootsrv-dummy"), bcrypt.DefaultCost)
	return s, nil
}

// PrepareReload checks cfg as New does and returns what puts it into
// effect: users, the anonymous policy, TLS certificates, the banner, limits
// and timeouts, overwrite and upload caps apply to what comes next;
// logged-in sessions keep their account and transfers their handles. The
// passive port range, public_host and active mode settings are fixed when
// Serve starts (the library holds them). Nothing changes when it fails;
// apply cannot fail.
func (s *Server) PrepareReload(cfg Config) (apply func(), err error) {
	l, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	return func() { s.cur.Store(l) }, nil
}

// canBindPrivileged reports whether the process may bind ports below 1024
// (root or CAP_NET_BIND_SERVICE, capability bit 10).
func canBindPrivileged() bool {
	if os.Geteuid() == 0 {
		return true
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<10) != 0
		}
	}
	return false
}

// Serve accepts control connections on ln until ctx is cancelled or
// Shutdown is called, and returns then; sessions and transfers in flight
// run on, for Shutdown to wait for. It never closes ln, which belongs to
// the caller.
//
// An accept error never ends Serve: running out of file descriptors
// (EMFILE, ENFILE), buffers or an aborted handshake is waited out with
// listener.Retry's backoff (5ms doubling to 1s), any other error is
// retried after a second; each is counted in
// bootsrv_ftp_accept_errors_total and logged at most once a second. Only
// a closed listener returns early, with an error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	libLn := newChanListener(ln.Addr())
	lib := ftpserver.NewFtpServer(&mainDriver{srv: s, settings: s.settings(libLn)})
	lib.Logger = slog.New(slog.DiscardHandler)
	if err := lib.Listen(); err != nil {
		return fmt.Errorf("ftp: %w", err)
	}
	libErr := make(chan error, 1)
	go func() { libErr <- lib.Serve() }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.running = &running{stop: cancel, lib: lib, libErr: libErr}
	s.mu.Unlock()

	owned := listener.Unowned(ln)
	wake := context.AfterFunc(ctx, func() { owned.Close() })
	defer wake()
	ln = listener.Retry(owned, s.acceptError)
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(aerr, net.ErrClosed) {
				return fmt.Errorf("ftp accept: %w", aerr)
			}
			s.acceptError(aerr)
			if !wait(ctx, time.Second) {
				return nil
			}
			continue
		}
		if sess := s.admit(ctx, c, libLn); sess != nil {
			s.sessionsWG.Add(1)
			go func() {
				defer s.sessionsWG.Done()
				sess.run(ctx)
				s.leave(sess)
			}()
		}
	}
}

// running is what Shutdown stops of a Serve.
type running struct {
	stop   context.CancelFunc
	lib    *ftpserver.FtpServer
	libErr chan error
}

// Shutdown stops Serve accepting, waits for transfers in flight until ctx
// is done, then closes every session and returns; ctx's error when
// transfers were cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	r := s.running
	s.running = nil
	s.mu.Unlock()
	if r != nil {
		r.stop()
	}
	var err error
	select {
	case <-s.flight.idle():
	case <-ctx.Done():
		err = ctx.Err()
		s.log.Warn().Msg("ftp: drain deadline passed, closing sessions with transfers in flight")
	}
	s.mu.Lock()
	for sess := range s.sessions {
		sess.close("server shutdown")
	}
	s.mu.Unlock()
	if r != nil {
		r.lib.Stop()
		<-r.libErr
	}
	s.sessionsWG.Wait()
	return err
}

// acceptError counts a failed accept and logs it, sampled: a descriptor
// shortage fails every accept, and one line a second tells as much.
func (s *Server) acceptError(err error) {
	s.m.acceptErrors.Inc()
	if ok, dropped := s.acceptLog.Allow(time.Now()); ok {
		s.log.Warn().Err(err).Int("not_logged", dropped).Msg("ftp accept failed; retrying")
	}
}

// wait sleeps for d unless ctx ends first; it reports whether ctx is
// still alive.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// admit applies the session caps (421, RFC 959 §4.2) and starts a session.
func (s *Server) admit(ctx context.Context, c net.Conn, libLn *chanListener) *session {
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	ip := ap.Addr().Unmap()
	s.mu.Lock()
	reason := ""
	switch {
	case len(s.sessions) >= s.conf().Limits.MaxSessions:
		reason = reasonSessionLimit
	case s.perIP[ip] >= s.conf().Limits.MaxSessionsPerIP:
		reason = reasonIPLimit
	}
	if reason != "" {
		s.mu.Unlock()
		s.m.refusals.WithLabelValues(reason).Inc()
		c.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(c, "421 Too many connections; try again later.\r\n")
		c.Close()
		return nil
	}
	oobInline(c)
	ours, theirs := net.Pipe()
	sess := &session{
		srv: s, raw: c, conn: c, lib: ours, libDone: make(chan struct{}),
		rd:      bufio.NewReaderSize(c, maxLine+2),
		remote:  ip,
		started: time.Now(),
	}
	sess.log = s.log.With().Uint64("session", s.nextID.Add(1)).Str("remote", c.RemoteAddr().String()).Logger()
	s.sessions[sess] = struct{}{}
	s.perIP[ip]++
	s.mu.Unlock()
	s.m.sessions.Inc()
	if !libLn.deliver(ctx, pipeConn{Conn: theirs, local: newLibAddr(c.LocalAddr(), nil), remote: newLibAddr(c.RemoteAddr(), sess)}) {
		sess.close("shutdown")
	}
	return sess
}

func (s *Server) leave(sess *session) {
	sess.close("")
	s.mu.Lock()
	delete(s.sessions, sess)
	if s.perIP[sess.remote]--; s.perIP[sess.remote] <= 0 {
		delete(s.perIP, sess.remote)
	}
	s.mu.Unlock()
	s.m.sessions.Dec()
	reason, _ := sess.reason.Load().(string)
	if reason == "" {
		reason = "client closed"
	}
	user := ""
	if sess.acct != nil {
		user = sess.acct.name
	}
	sess.log.Info().Str("user", user).Bool("tls", sess.tlsOn).Int("commands", sess.commands).
		Int("login_failures", sess.failures).Int64("bytes_down", sess.bytesDown.Load()).
		Int64("bytes_up", sess.bytesUp.Load()).Dur("duration", time.Since(sess.started)).
		Str("reason", reason).Msg("ftp session")
}

// oobInline keeps TCP urgent data in the normal byte stream. Clients send
// ABOR (or Telnet IP/DM before it) as urgent data (RFC 959 §4.1.3); without
// SO_OOBINLINE the kernel cuts the urgent byte out of the line, typically
// its LF.
func oobInline(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
	})
}

// lookup finds the session of one of the library's clients by the
// address admit handed it.
func (s *Server) lookup(cc ftpserver.ClientContext) *session {
	if a, ok := cc.RemoteAddr().(*libAddr); ok {
		return a.sess
	}
	return nil
}

// expectPassive records that the passive port was announced to ip.
func (s *Server) expectPassive(port int, ip netip.Addr) {
	s.mu.Lock()
	s.passive[port] = ip
	s.mu.Unlock()
}

func (s *Server) passiveClient(port int) (netip.Addr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ip, ok := s.passive[port]
	return ip, ok
}

// settings is the library's configuration; our front end enforces TLS
// policy, so the library itself never requires TLS.
func (s *Server) settings(ln net.Listener) *ftpserver.Settings {
	c := s.conf()
	return &ftpserver.Settings{
		Listener:                 ln,
		PublicHost:               c.PublicHost,
		Banner:                   c.Banner,
		PassiveTransferPortRange: newPassivePorts(c.PassivePorts),
		IdleTimeout:              max(1, int(c.Limits.IdleTimeout/time.Second)),
		ConnectionTimeout:        max(1, int(c.Limits.DataTimeout/time.Second)),
		ActiveTransferPortNon20:  !s.port20,
		DisableMFMT:              true,
		DisableSite:              true,
		DisableActiveMode:        c.DisableActive,
		DefaultTransferType:      ftpserver.TransferTypeBinary,
		DisableASCIIConversion:   true, // the driver converts TYPE A (ascii.go)
		ActiveConnectionsCheck:   ftpserver.IPMatchRequired,
		PasvConnectionsCheck:     ftpserver.IPMatchRequired,
	}
}

// flight counts transfers in flight so that shutdown can wait for them.
type flight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (f *flight) add() {
	f.mu.Lock()
	if f.n == 0 {
		f.zero = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *flight) done() {
	f.mu.Lock()
	if f.n--; f.n == 0 {
		close(f.zero)
	}
	f.mu.Unlock()
}

func (f *flight) idle() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return f.zero
}
