package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
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
	base, err := localURL(cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("machines: http.listen: %w", err)
	}
	c := timeline.Client{BaseURL: base}
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

// localURL is the base URL this host reaches an HTTP server listening on
// listen at: a wildcard address is reached on loopback. A link-local
// address keeps its zone, written "%25zone" (RFC 6874): read on this
// host, it names the interface to use.
func localURL(listen string) (string, error) {
	if listen == "off" {
		return "", errors.New("off: the timeline is served over HTTP; turn it on to read it")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() != "" {
		return "http://[" + a.WithZone("").String() + "%25" + url.PathEscape(a.Zone()) + "]:" + port, nil
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
