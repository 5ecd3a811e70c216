package main

import (
	"context"
	"fmt"
	"net"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/bootsrv/bootsrv/dhcp"
)

// listenPXE opens the PXE boot server port (dhcp.pxe_port, 4011) a proxy
// answers on, bound to the DHCP interface like port 67. It returns nil when
// the mode is not proxy or the port is off (-1).
func listenPXE(ctx context.Context, srv *dhcp.Server, cfg dhcp.Config, log zerolog.Logger) (net.PacketConn, error) {
	cfg = cfg.WithDefaults()
	if !srv.ProxyMode() || cfg.PXEPort < 0 {
		return nil, nil
	}
	conn, err := dhcp.Listen(ctx, cfg.Interface, cfg.PXEPort)
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on %s port %d (pxe_port): %w", cfg.Interface, cfg.PXEPort, err)
	}
	log.Info().Str("addr", conn.LocalAddr().String()).Msg("pxe port listening")
	return conn, nil
}

// serveDHCP runs the DHCP port and, when open, the PXE port (proxy mode)
// and the rogue-server listener beside it. The DHCP and PXE ports failing
// stops both; the listener is best effort and only logs its end.
func serveDHCP(ctx context.Context, srv *dhcp.Server, conn, pxe, watch net.PacketConn, log zerolog.Logger) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, conn) })
	if pxe != nil {
		g.Go(func() error { return srv.ServePXE(gctx, pxe) })
	}
	if watch != nil {
		g.Go(func() error {
			if err := srv.WatchOtherServers(gctx, watch); err != nil && gctx.Err() == nil {
				log.Warn().Err(err).Msg("dhcp rogue detection stopped")
			}
			return nil
		})
	}
	return g.Wait()
}
