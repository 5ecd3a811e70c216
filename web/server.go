package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/internal/listener"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Routes is what the server answers.
type Routes struct {
	// Files serves the image store (and boot scripts in front of it)
	// under Config.ImagesPath; it sees the name below the prefix as its
	// path. Nil: no store over HTTP.
	Files http.Handler
	// Handlers are bootsrv's own routes by ServeMux pattern, e.g.
	// "GET /metrics"; their paths must be among ownPaths, or "/{$}" (the
	// console's overview), which the image store at "/" would shadow.
	// Every one but /metrics and /healthz is behind Config.Users.
	Handlers map[string]http.Handler
	// Events is told of every GET of Files, for the boot timeline. Nil:
	// nobody is.
	Events event.Sink
	// Transfers is told of every GET of Files while it runs, with its
	// progress, for the web console. Nil: nobody is.
	Transfers *inflight.Registry
}

// Server is bootsrv's HTTP service: metrics, health, the API and the
// image store for iPXE and UEFI HTTP boot.
type Server struct {
	cfg  Config
	log  zerolog.Logger
	m    *guardMetrics
	tm   *transferMetrics
	srv  *http.Server
	open atomic.Pointer[net.Listener] // the guarded listener, for the gauge
	auth *authenticator
	tls  *tls.Config // nil: plain HTTP
}

// New checks cfg (after WithDefaults) and builds the server for routes.
// Image paths are routed before the ServeMux, which would redirect
// non-canonical ones (routeImages).
func New(cfg Config, routes Routes, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log}
	var err error
	s.m, err = newGuardMetrics(reg, func() float64 {
		if ln := s.open.Load(); ln != nil {
			return float64(listener.Open(*ln))
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	if s.tm, err = newTransferMetrics(reg); err != nil {
		return nil, err
	}
	if s.auth, err = newAuthenticator(log, reg); err != nil {
		return nil, err
	}
	st, err := prepareAuth(cfg.Users, cfg.AuthFailureDelay)
	if err != nil {
		return nil, err
	}
	s.auth.set(st)
	if cfg.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// Every route but the open ones checks credentials, also while no
	// user is configured, so that a reload that adds users protects them.
	mux := http.NewServeMux()
	for pattern, h := range routes.Handlers {
		if !isOpen(pattern) {
			h = s.auth.require(h)
		}
		mux.Handle(pattern, h)
	}
	var handler http.Handler = mux
	if routes.Files != nil && *cfg.Images {
		handler = routeImages(cfg.ImagesPath, s.accountFiles(routes.Files, routes.Events, routes.Transfers), mux)
	}
	s.srv = &http.Server{
		// What net/http logs itself (TLS handshakes of scanners, bad
		// requests) goes to the debug log, not to stderr.
		ErrorLog:          stdlog.New(debugWriter{log}, "", 0),
		TLSConfig:         s.tls,
		Handler:           stallTimeout(handler, cfg.WriteTimeout),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
	}
	return s, nil
}

// Serve answers connections from ln until ctx is cancelled or Shutdown is
// called. It never closes ln: that is for its caller, once Serve has
// returned. A nil return means it was stopped.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { s.srv.SetKeepAlivesEnabled(false); s.closeListeners() })
	defer stop()
	var err error
	if s.tls != nil {
		err = s.srv.ServeTLS(s.guard(ln), "", "")
	} else {
		err = s.srv.Serve(s.guard(ln))
	}
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// debugWriter writes each line net/http logs as a debug line.
type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Auth reports whether users are configured, so the console and the API
// need credentials.
func (s *Server) Auth() bool { return s.auth.on() }

// TLS reports whether the server speaks HTTPS.
func (s *Server) TLS() bool { return s.tls != nil }

// PrepareReload checks cfg's users and returns what puts them in effect:
// the other keys of the http section are fixed at start.
func (s *Server) PrepareReload(cfg Config) (apply func(), err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := prepareAuth(cfg.Users, cfg.AuthFailureDelay)
	if err != nil {
		return nil, err
	}
	return func() { s.auth.set(st) }, nil
}

// closeListeners stops Serve's Accept; requests in flight run on.
func (s *Server) closeListeners() {
	if ln := s.open.Load(); ln != nil {
		(*ln).Close()
	}
}

// Shutdown stops accepting and waits for requests in flight until ctx is
// done, then closes the connections left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}
