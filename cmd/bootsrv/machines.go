package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/bootsrv/bootsrv/timeline"
)

// runMachines is "bootsrv machines": it asks the running server at the
// config's http.listen for its per-machine boot timelines (the timeline
// lives in that process's memory only) and prints the list, or with -mac
// one machine's timeline.
func runMachines(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootsrv machines", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config `FILE` naming http.listen; default: the embedded default config")
	mac := fs.String("mac", "", "print the timeline of this `MAC` (or IP) instead of the list")
	query := fs.String("q", "", "list only machines whose MAC, IP or host name contains `TEXT`")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	user := userFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("machines: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig(*configFile, &serveFlags{set: map[string]string{}})
	if err != nil {
		return err
	}
	api, err := newServerAPI(cfg.HTTP.Listen, cfg.HTTP.TLS.Cert, *user, 10*time.Second)
	if err != nil {
		return fmt.Errorf("machines: %w", err)
	}
	base := api.base
	c := timeline.Client{BaseURL: base, HTTP: api.http}
	if *mac != "" {
		m, err := c.Machine(ctx, *mac)
		if errors.Is(err, timeline.ErrNotFound) {
			return fmt.Errorf("machines: %s has no timeline: not seen since the server started, or dropped for more recent machines", *mac)
		}
		if err != nil {
			return fmt.Errorf("machines: asking %s: %w", base, err)
		}
		if *asJSON {
			return writeIndented(stdout, m)
		}
		return timeline.PrintMachine(stdout, m)
	}
	list, err := c.All(ctx, *query)
	if err != nil {
		return fmt.Errorf("machines: asking %s: %w", base, err)
	}
	if *asJSON {
		return writeIndented(stdout, list)
	}
	return timeline.PrintList(stdout, list, time.Now())
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
