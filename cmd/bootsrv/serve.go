package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/console"
	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/ftp"
	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/netboot"
	"github.com/bootsrv/bootsrv/tftp"
	"github.com/bootsrv/bootsrv/timeline"
	"github.com/bootsrv/bootsrv/web"
)

// service is one running protocol server: its socket is bound, and serve
// runs it until ctx is cancelled, then lets work in flight finish.
type service struct {
	name  string
	addr  string
	serve func(ctx context.Context) error
	close func() error // releases the socket once serve has returned, or if it never ran
	// handlers are extra HTTP endpoints of the service, by pattern
	// (e.g. "GET /dhcp/leases"), mounted on the http address.
	handlers map[string]http.Handler
	// live is what a config reload changes in the running service; nil
	// when nothing does.
	live *livePart
	// degraded, when set, says why the service, though serving, does not
	// fully serve ("" when it does); /healthz reports it.
	degraded func() string
}

// serve runs every enabled service until ctx is cancelled (SIGINT or
// SIGTERM). Each server is built, and so its config checked, before any
// socket is opened; an error there (start-up) is returned, while a service
// failing later is reported and leaves the others running (supervise).
func serve(ctx context.Context, cfg *Config, fl *serveFlags, stderr io.Writer) error {
	started := time.Now()
	// SIGHUP reloads the config; caught from the start, so that it never
	// ends the process (its default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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

	// The boot timeline resolves addresses through the layer, which tells
	// it of renders and HTTP transfers: the layer is set before any
	// service runs, so before any event.
	var layer *netboot.Layer
	tcfg := cfg.Timeline
	tcfg.Resolve = func(ip netip.Addr) (net.HardwareAddr, bool) { return layer.Resolve(ip) }
	rec, err := timeline.New(tcfg, log.With().Str("service", "timeline").Logger(), reg)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	clients := &dhcpClients{}
	if layer, err = netboot.New(cfg.netbootConfig(), store, clients.lookup, rec, log, reg); err != nil {
		return cfg.scriptsError(err)
	}
	cfg.TFTP.Events, cfg.FTP.Events = rec, rec
	transfers := inflight.New(0, 0)
	cfg.TFTP.Transfers, cfg.FTP.Transfers = transfers, transfers

	var svcs []*service
	defer func() {
		for _, s := range svcs {
			s.close()
		}
	}()
	starters := []func() (*service, error){
		func() (*service, error) { return startTFTP(cfg, store, layer, log, reg) },
		func() (*service, error) { return startFTP(cfg, store, log, reg) },
		func() (*service, error) {
			dc := cfg.dhcpConfig()
			dc.Events = rec
			return startDHCP(ctx, dc, store, clients, cfg.ShutdownTimeout, log.With().Str("service", "dhcp").Logger(), reg)
		},
		func() (*service, error) {
			return startDHCPv6(ctx, cfg, store, clients, rec, log.With().Str("service", "dhcpv6").Logger(), reg)
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
		if httpLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("http: %w", err)
		}
		defer httpLn.Close()
	}
	if len(svcs) == 0 && httpLn == nil {
		return errors.New("every service is off: nothing to run")
	}
	names := []string{}
	for _, s := range svcs {
		names = append(names, s.name)
	}
	if httpLn != nil {
		names = append(names, "http")
	}
	health, err := web.NewHealth(names, reg)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if s.degraded != nil {
			health.Watch(s.name, s.degraded)
		}
	}
	parts := []livePart{logLevelPart(), {keys: []string{"scripts"}, prepare: func(c *Config) (func(), error) {
		apply, err := layer.PrepareReload(c.netbootConfig())
		if err != nil {
			return nil, c.scriptsError(err)
		}
		return apply, nil
	}}}
	for _, s := range svcs {
		if s.live != nil {
			parts = append(parts, *s.live)
		}
	}
	rl, err := newReloader(cfg, fl, parts, log, reg)
	if err != nil {
		return err
	}
	go reloadOnHUP(ctx, hup, rl)
	if httpLn != nil {
		d := httpDeps{health: health, svcs: svcs, layer: layer, rec: rec, rl: rl, store: store,
			transfers: transfers, started: started}
		if clients.srv != nil {
			d.ex = clients.srv // nil when DHCP is off
			if cfg.DHCP.Mode != "proxy" {
				d.leases = clients.srv.Leases
			}
		}
		s, err := startHTTP(cfg, httpLn, d, log, reg)
		if err != nil {
			return err
		}
		svcs = append(svcs, s)
		log.Info().Str("service", "http").Str("addr", s.addr).Msg("listening")
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

	log.Info().Msg("shut down")
	return nil
}

// supervise runs one service until ctx is cancelled. A service that stops
// on its own (its socket broke) is reported, in /healthz, bootsrv_service_up
// and the log, and the other services carry on: one service failing never
// stops another, and the process ends only on SIGINT or SIGTERM.
func supervise(ctx context.Context, s *service, health *web.Health, log zerolog.Logger) {
	health.Set(s.name, "")
	err := s.serve(ctx)
	if ctx.Err() != nil {
		health.Set(s.name, "shutting down")
		log.Info().Str("service", s.name).Msg("stopped")
		return
	}
	why := "stopped unexpectedly"
	if err != nil {
		why = err.Error()
	}
	health.Set(s.name, why)
	log.Error().Str("service", s.name).Str("error", why).
		Msg("service stopped; the other services keep running (restart bootsrv to bring it back)")
	<-ctx.Done()
}

// httpDeps are what the HTTP service serves and the console shows.
type httpDeps struct {
	health    *web.Health
	svcs      []*service // the other services
	layer     *netboot.Layer
	ex        netboot.Explainer   // nil when DHCP is off
	leases    func() []dhcp.Lease // nil when no leases are kept here
	rec       *timeline.Recorder
	rl        *reloader
	store     *images.Store // nil: no uploads page
	transfers *inflight.Registry
	started   time.Time
}

// startHTTP builds the HTTP service on ln: metrics, health, the API, the
// console, the services' handlers and, with http.images, the image store
// with boot scripts in front of it.
func startHTTP(cfg *Config, ln net.Listener, d httpDeps, log zerolog.Logger, reg *prometheus.Registry) (*service, error) {
	hlog := log.With().Str("service", "http").Logger()
	routes := web.Routes{Events: d.rec, Transfers: d.transfers, Handlers: map[string]http.Handler{
		"GET /metrics":       promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		"GET /healthz":       d.health,
		"POST " + reloadPath: d.rl.handler(),
		"GET /api/explain":   d.layer.ExplainHandler(d.ex),
	}}
	for pattern, h := range d.rec.Handlers() {
		routes.Handlers[pattern] = h
	}
	status := &consoleStatus{started: d.started, health: d.health, transfers: d.transfers, rl: d.rl, gather: reg}
	for _, s := range d.svcs {
		for pattern, h := range s.handlers {
			routes.Handlers[pattern] = h
		}
		status.services = append(status.services, console.Service{Name: s.name, Addr: s.addr})
	}
	status.services = append(status.services, console.Service{Name: "http", Addr: ln.Addr().String()})
	src := console.Sources{Status: status.status, Machines: d.rec, Explain: consoleExplainer(d.layer, d.ex)}
	if d.leases != nil {
		src.Leases = newLeasePages(d.leases)
	}
	if up, err := images.Clean(cfg.Images.Uploads); err == nil && d.store != nil {
		src.Uploads = uploadArea{store: d.store.Trusted(), dir: up, transfers: d.transfers}
	}
	con, err := console.New(console.Config{Root: cfg.HTTP.ImagesPath != "/"}, src)
	if err != nil {
		return nil, err
	}
	for pattern, h := range con.Handlers() {
		routes.Handlers[pattern] = h
	}
	routes.Files = d.layer.Files()
	srv, err := web.New(cfg.HTTP.Config, routes, hlog, reg)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	status.web = srv
	d.rl.add(livePart{keys: []string{"http.users", "http.auth_failure_delay"}, prepare: func(c *Config) (func(), error) {
		apply, err := srv.PrepareReload(c.HTTP.Config)
		if err != nil {
			return nil, c.keyErrorIn("http", err)
		}
		return apply, nil
	}})
	if !srv.Auth() && !isLoopback(ln.Addr().String()) {
		hlog.Warn().Str("addr", ln.Addr().String()).
			Msg("http.users is empty: the console and the API (machines, leases, reload) are open to anyone who reaches this address; see bootsrv passwd")
	}
	return &service{
		name: "http",
		addr: ln.Addr().String(),
		serve: func(ctx context.Context) error {
			if err := srv.Serve(ctx, ln); err != nil {
				return err
			}
			return shutdown(srv, cfg.ShutdownTimeout)
		},
		close: ln.Close,
	}, nil
}

// shutdown drains a service that stopped serving, within timeout (the
// shutdown_timeout key): what is still running then is stopped.
func shutdown(srv interface{ Shutdown(context.Context) error }, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// startTFTP binds the TFTP server, which serves what the boot layer hands
// it: boot scripts, else store files.
func startTFTP(cfg *Config, store *images.Store, layer *netboot.Layer, log zerolog.Logger, reg prometheus.Registerer) (*service, error) {
	if cfg.TFTP.Listen == "off" {
		return nil, nil
	}
	if cfg.TFTP.AllowWrite {
		if err := store.MkdirAll(cfg.Images.Uploads); err != nil {
			return nil, fmt.Errorf("tftp: upload folder %q: %w", cfg.Images.Uploads, err)
		}
	}
	srv, err := tftp.New(cfg.TFTP.Config, layer.TFTP(), log.With().Str("service", "tftp").Logger(), reg)
	if err != nil {
		return nil, fmt.Errorf("tftp: %w", err)
	}
	conn, err := net.ListenPacket("udp", cfg.TFTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("tftp: %w", err)
	}
	return &service{
		live: &livePart{keys: []string{"tftp"}, prepare: func(c *Config) (func(), error) {
			return srv.PrepareReload(c.TFTP.Config)
		}},
		name: "tftp",
		addr: conn.LocalAddr().String(),
		serve: func(ctx context.Context) error {
			if err := srv.Serve(ctx, conn); err != nil {
				return err
			}
			return shutdown(srv, cfg.ShutdownTimeout)
		},
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
		live: &livePart{keys: []string{"ftp"}, prepare: func(c *Config) (func(), error) {
			return srv.PrepareReload(c.FTP.Config)
		}},
		name: "ftp",
		addr: ln.Addr().String(),
		serve: func(ctx context.Context) error {
			if err := srv.Serve(ctx, ln); err != nil {
				return err
			}
			return shutdown(srv, cfg.ShutdownTimeout)
		},
		close: ln.Close,
	}, nil
}
