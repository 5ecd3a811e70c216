package main

import (
	"context"
	"errors"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/images"
)

// startDHCP binds the DHCP responder when the config enables it and returns
// nil when it does not.
func startDHCP(ctx context.Context, cfg dhcp.Config, store *images.Store, log zerolog.Logger, reg prometheus.Registerer) (*service, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	return nil, errors.New("dhcp: the responder is not wired into this build yet")
}

// runLeases is "bootsrv leases": it lists the leases in the lease file.
func runLeases(args []string, stdout, stderr io.Writer) error {
	return errors.New("leases: the lease store is not wired into this build yet")
}
