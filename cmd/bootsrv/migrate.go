package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/bootsrv/bootsrv/dhcp"
)

// runMigrate is "bootsrv migrate": it creates or upgrades the PostgreSQL
// lease schema that dhcp.lease_store names, as every server also does at
// start (in one transaction, under an advisory lock, so running it beside
// starting servers is harmless). Running it ahead lets a deployment
// create the tables with a role the servers themselves need not have.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootsrv migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config `FILE` with dhcp.lease_store type postgres")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *configFile == "" {
		fs.Usage()
		return fmt.Errorf("migrate: usage: bootsrv migrate -config FILE")
	}
	cfg, err := loadConfig(*configFile, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	from, to, err := dhcp.Migrate(ctx, cfg.DHCP)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if from == to {
		fmt.Fprintf(stdout, "lease schema at version %d: nothing to do\n", to)
		return nil
	}
	fmt.Fprintf(stdout, "lease schema migrated from version %d to %d\n", from, to)
	return nil
}
