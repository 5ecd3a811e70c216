package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/ftp"
	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/scripts"
	"github.com/bootsrv/bootsrv/tftp"
)

// service is one running protocol server: its socket is bound, and serve
// runs it until ctx is cancelled, then lets work in flight finish.
type service struct {
	name  string
	addr  string
	serve func(ctx context.Context) error
	close func() error // releases the socket if serve is never called
	// handlers are extra HTTP endpoints of the service, by pattern
	// (e.g. "GET /dhcp/leases"), mounted on the http address.
	handlers map[string]http.Handler
	// degraded, when set, says why the service, though serving, does not
	// fully serve ("" when it does); /healthz reports it.
	degraded func() string
}

// serve runs every enabled service until ctx is cancelled (SIGINT or
// SIGTERM). Each server is built, and so its config checked, before any
// socket is opened; an error there (start-up) is returned, while a service
// failing later is reported and leaves the others running (supervise).
func serve(ctx context.Context, cfg *Config, stderr io.Writer) error {
	log, err := newLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	if err != nil {
		return err
	}
	if err := cfg.checkRoot(); err != nil {
		return err
	}
	store, err := images.Open(cfg.Images.Root, cfg.storeOptions(log))
	if err != nil {
		return err
	}
	defer store.Close()
	reg := newRegistry()
	defer startSweeper(ctx, store, cfg.FTP.PartialTTL, log, reg)()

	clients := &dhcpClients{}
	scr, err := newScripts(cfg, clients, log, reg)
	if err != nil {
		return err
	}

	var svcs []*service
	defer func() {
		for _, s := range svcs {
			s.close()
		}
	}()
	starters := []func() (*service, error){
		func() (*service, error) { return startTFTP(cfg, store, scr, log, reg) },
		func() (*service, error) { return startFTP(cfg, store, log, reg) },
		func() (*service, error) {
			return startDHCP(ctx, cfg.dhcpConfig(), store, clients, log.With().Str("service", "dhcp").Logger(), reg)
		},
	}
	for _, start := range starters {
		s, err := start()
		if err != nil {
			return err
		}
		if s != nil {
			svcs = append(svcs, s)
			log.Info().Str("service", s.name).Str("addr", s.addr).Msg("listening")
		}
	}
	var httpLn net.Listener
	if cfg.HTTP.Listen != "off" {
		raw, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		defer raw.Close()
		if httpLn, err = httpListener(raw, cfg.HTTP, log.With().Str("service", "http").Logger(), reg); err != nil {
			return err
		}
	}
	if len(svcs) == 0 && httpLn == nil {
		return errors.New("every service is off: nothing to run")
	}
	names := []string{}
	for _, s := range svcs {
		names = append(names, s.name)
	}
	health, err := newHealth(names, reg)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if s.degraded != nil {
			health.watch(s.name, s.degraded)
		}
	}
	if httpLn != nil {
		var files *images.Store
		if *cfg.HTTP.Images {
			files = store
		}
		httpSrv := newHTTPServer(cfg.HTTP, reg, health, svcs, files, scr)
		svcs = append(svcs, &service{
			name: "http",
			addr: httpLn.Addr().String(),
			serve: func(ctx context.Context) error {
				return serveHTTP(ctx, httpSrv, httpLn, cfg.ShutdownTimeout)
			},
			close: httpLn.Close,
		})
		log.Info().Str("service", "http").Str("addr", httpLn.Addr().String()).Msg("listening")
		health.set("http", "starting")
	}

	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			supervise(ctx, s, health, log)
		}()
	}
	log.Info().Str("version", buildVersion()).Str("root", cfg.Images.Root).Msg("ready")
	wg.Wait()
	svcs = nil // each serve has closed its own socket
	log.Info().Msg("shut down")
	return nil
}

// supervise runs one service until ctx is cancelled. A service that stops
// on its own (its socket broke) is reported, in /healthz, bootsrv_service_up
// and the log, and the other services carry on: one service failing never
// stops another, and the process ends only on SIGINT or SIGTERM.
func supervise(ctx context.Context, s *service, health *health, log zerolog.Logger) {
	health.set(s.name, "")
	err := s.serve(ctx)
	if ctx.Err() != nil {
		health.set(s.name, "shutting down")
		log.Info().Str("service", s.name).Msg("stopped")
		return
	}
	why := "stopped unexpectedly"
	if err != nil {
		why = err.Error()
	}
	health.set(s.name, why)
	log.Error().Str("service", s.name).Str("error", why).
		Msg("service stopped; the other services keep running (restart bootsrv to bring it back)")
	<-ctx.Done()
}

// serveHTTP runs srv on ln until ctx is cancelled, then lets requests in
// flight finish for up to timeout.
func serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	return err
}

// startTFTP binds the TFTP server; scr, when not nil, answers requests for
// boot script names before the store.
func startTFTP(cfg *Config, store *images.Store, scr *scripts.Server, log zerolog.Logger, reg prometheus.Registerer) (*service, error) {
	if cfg.TFTP.Listen == "off" {
		return nil, nil
	}
	srv, err := tftp.New(cfg.TFTP.Config, store, log.With().Str("service", "tftp").Logger(), reg)
	if err != nil {
		return nil, fmt.Errorf("tftp: %w", err)
	}
	if scr != nil {
		srv.SetVirtual(scr.TFTP)
	}
	conn, err := net.ListenPacket("udp", cfg.TFTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("tftp: %w", err)
	}
	return &service{
		name:  "tftp",
		addr:  conn.LocalAddr().String(),
		serve: func(ctx context.Context) error { return srv.Serve(ctx, conn) },
		close: conn.Close,
	}, nil
}

func startFTP(cfg *Config, store *images.Store, log zerolog.Logger, reg prometheus.Registerer) (*service, error) {
	if cfg.FTP.Listen == "off" {
		return nil, nil
	}
	srv, err := ftp.New(cfg.FTP.Config, store, log.With().Str("service", "ftp").Logger(), reg)
	if err != nil {
		return nil, fmt.Errorf("ftp: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.FTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("ftp: %w", err)
	}
	return &service{
		name:  "ftp",
		addr:  ln.Addr().String(),
		serve: func(ctx context.Context) error { return srv.Serve(ctx, ln) },
		close: ln.Close,
	}, nil
}
