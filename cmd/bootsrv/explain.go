package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/netboot"
)

// runExplain is "bootsrv explain": it prints, without opening any socket,
// what bootsrv would answer a machine: the DHCP reply and why, the boot
// decision and why, and what the bootfile is (a store file, a boot script
// rendered for that machine, or missing).
func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootsrv explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config `FILE`; default: the embedded default config")
	vals := map[string]*string{
		"mac":          fs.String("mac", "", "the machine's `MAC` address (required)"),
		"arch":         fs.String("arch", "", "its architecture, option 93: bios, efi32, efi64, arm64, http (UEFI HTTP boot), arm64-http or a `number`"),
		"user_class":   fs.String("user-class", "", "option 77, e.g. iPXE"),
		"vendor_class": fs.String("vendor-class", "", "option 60; default PXEClient:Arch:N (HTTPClient for http) when -arch is set"),
		"giaddr":       fs.String("giaddr", "", "the relay's `IP`, for a machine behind a DHCP relay"),
		"circuit_id":   fs.String("circuit-id", "", "option 82 agent circuit ID a relay adds"),
		"remote_id":    fs.String("remote-id", "", "option 82 agent remote ID a relay adds"),
		"client_id":    fs.String("client-id", "", "option 61 as `HEX` bytes (01:52:54:...), for clients that send one"),
	}
	asJSON := fs.Bool("json", false, "print JSON")
	v6 := explainV6Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("explain: unexpected argument %q", fs.Arg(0))
	}
	if *v6.on {
		return runExplain6(ctx, *configFile, vals, v6, *asJSON, stdout)
	}
	q, err := netboot.ParseQuery(func(k string) string { return *vals[k] })
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	cfg, err := loadConfig(*configFile, &serveFlags{set: map[string]string{}})
	if err != nil {
		return err
	}
	e, err := explainFromConfig(ctx, cfg, q)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	if *asJSON {
		return writeIndented(stdout, e)
	}
	netboot.PrintExplanation(stdout, e)
	return nil
}

// explainFromConfig builds the boot layer and a DHCP explainer from cfg,
// with the leases the lease file or database holds (or, when a running
// server holds the file, the ones it serves), and explains q.
func explainFromConfig(ctx context.Context, cfg *Config, q dhcp.ExplainQuery) (netboot.Explanation, error) {
	var notes []string
	root := cfg.Images.Root
	if err := cfg.checkRoot(); err != nil {
		notes = append(notes, err.Error()+": bootfiles are looked for in an empty store")
		tmp, terr := os.MkdirTemp("", "bootsrv-explain-")
		if terr != nil {
			return netboot.Explanation{}, terr
		}
		defer os.RemoveAll(tmp)
		root = tmp
	}
	store, err := images.Open(root, cfg.storeOptions(zerolog.Nop()))
	if err != nil {
		return netboot.Explanation{}, err
	}
	defer store.Close()
	layer, err := netboot.New(cfg.netbootConfig(), store, nil, nil, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		return netboot.Explanation{}, cfg.scriptsError(err)
	}
	var ex netboot.Explainer
	if cfg.DHCP.Enabled() {
		dc, _, _ := findIPXEBuilds(cfg.dhcpConfig(), store)
		leases, lerr := explainLeases(ctx, cfg, dc)
		if lerr != nil {
			notes = append(notes, "no leases read ("+lerr.Error()+"): the machine is explained as one the server has not seen")
		}
		d, note, err := dhcp.NewExplainer(dc, leases)
		if err != nil {
			return netboot.Explanation{}, cfg.keyErrorIn("dhcp", err)
		}
		if note != "" {
			notes = append(notes, note)
		}
		ex = d
	}
	e := layer.Explain(q, ex)
	e.Notes = append(notes, e.Notes...)
	return e, nil
}

// explainLeases reads the leases of dc's store; a lease file held by a
// running server is read through that server's HTTP address.
func explainLeases(ctx context.Context, cfg *Config, dc dhcp.Config) ([]dhcp.Lease, error) {
	if dc.Mode == "proxy" {
		return nil, nil
	}
	leases, err := dhcp.ListLeases(ctx, dc)
	if errors.Is(err, dhcp.ErrLeaseFileLocked) && cfg.HTTP.Listen != "off" {
		if l, herr := fetchLeases(cfg.HTTP.Listen, cfg.HTTP.TLS.Cert, os.Getenv(envUser), leasesPath); herr == nil {
			return l, nil
		}
	}
	return leases, err
}
