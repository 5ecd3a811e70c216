package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

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
}

// serve runs every enabled service until ctx is cancelled (SIGINT or
// SIGTERM) or one of them fails. Each server is built, and so its config
// checked, before any socket is opened.
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
			dc := cfg.DHCP
			for _, sc := range cfg.Scripts {
				dc.Scripts = append(dc.Scripts, sc.Name)
			}
			return startDHCP(ctx, dc, store, clients, log.With().Str("service", "dhcp").Logger(), reg)
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
	health := newHealth(svcs)
	var httpSrv *http.Server
	var httpLn net.Listener
	if cfg.HTTP.Listen != "off" {
		if httpLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("http: %w", err)
		}
		var files *images.Store
		if *cfg.HTTP.Images {
			files = store
		}
		httpSrv = newHTTPServer(reg, health, svcs, files, scr)
		log.Info().Str("service", "http").Str("addr", httpLn.Addr().String()).Msg("listening")
	}
	if len(svcs) == 0 && httpSrv == nil {
		return errors.New("every service is off: nothing to run")
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range svcs {
		g.Go(func() error {
			health.set(s.name, true)
			err := s.serve(gctx)
			health.set(s.name, false)
			switch {
			case err != nil:
				return fmt.Errorf("%s: %w", s.name, err)
			case gctx.Err() == nil:
				return fmt.Errorf("%s: stopped unexpectedly", s.name)
			}
			log.Info().Str("service", s.name).Msg("stopped")
			return nil
		})
	}
	if httpSrv != nil {
		g.Go(func() error {
			if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			return httpSrv.Shutdown(sctx)
		})
	}
	log.Info().Str("version", buildVersion()).Str("root", cfg.Images.Root).Msg("ready")
	err = g.Wait()
	svcs = nil // each serve has closed its own socket
	if err != nil {
		log.Error().Err(err).Msg("exiting")
		return err
	}
	log.Info().Msg("shut down")
	return nil
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
