package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/netboot"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// leases6Path is where the HTTP server serves the DHCPv6 lease list.
const leases6Path = "/dhcpv6/leases"

// dhcpv6Config is the dhcpv6 section with what it needs from the others:
// the boot script names, and where the HTTP and TFTP servers listen, for
// the URLs boot names become.
func (c *Config) dhcpv6Config() dhcp.Config6 {
	dc := c.DHCPv6
	dc.Scripts = nil
	for _, sc := range c.Scripts {
		dc.Scripts = append(dc.Scripts, sc.Name)
	}
	dc.HTTPPort, dc.ImagesPath, dc.TFTPPort = 0, c.HTTP.ImagesPath, listenPort(c.TFTP.Listen)
	if images := c.HTTP.Images; images == nil || *images {
		dc.HTTPPort = listenPort(c.HTTP.Listen)
	}
	return dc
}

// listenPort is the port of a listen address, 0 for "off" or none.
func listenPort(listen string) int {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// checkDHCPv6 is the dhcpv6 section's check, with what involves the
// others: one bbolt file cannot be both servers' (bbolt locks it).
func (c *Config) checkDHCPv6() error {
	dc := c.dhcpv6Config()
	if err := dc.Validate(); err != nil {
		return err
	}
	v4, v6 := c.DHCP.WithDefaults(), dc.WithDefaults()
	if dc.Enabled() && v4.Enabled() && v4.Mode == "server" && v6.LeaseFile != "" && v6.LeaseFile == v4.LeaseFile {
		return cfgerr.Errorf("lease_file", "%s is dhcp.lease_file, which the DHCPv4 server holds open; give DHCPv6 its own file", v6.LeaseFile)
	}
	return nil
}

// startDHCPv6 binds the DHCPv6 server (and, with router_advertisements,
// its raw ICMPv6 socket) when the config enables it; nil when it does
// not. The lease store is opened before any socket is bound.
func startDHCPv6(ctx context.Context, cfg *Config, store *images.Store, clients *dhcpClients, events event.Sink,
	log zerolog.Logger, reg prometheus.Registerer) (*service, error) {
	dc := cfg.dhcpv6Config()
	if !dc.Enabled() {
		return nil, nil
	}
	dc = warnIPXEBuilds6(dc, store, log)
	dc.Events = events
	srv, err := dhcp.New6(dc, store, log, reg)
	if err != nil {
		return nil, fmt.Errorf("dhcpv6: %w", cfg.keyErrorIn("dhcpv6", err))
	}
	clients.srv6 = srv
	conn, err := dhcp.Listen6(ctx, dc.Interface, dc.WithDefaults().Port)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("dhcpv6: listen on %s: %w", dc.Interface, err)
	}
	var ra net.PacketConn
	if dc.RouterAdvertisements {
		if ra, err = dhcp.ListenRA(ctx, dc.Interface); err != nil {
			conn.Close()
			srv.Close()
			return nil, fmt.Errorf("dhcpv6: router advertisements on %s: %w", dc.Interface, err)
		}
	}
	closeAll := func() error {
		if ra != nil {
			ra.Close()
		}
		conn.Close()
		return srv.Close()
	}
	return &service{
		live: &livePart{keys: []string{"dhcpv6"}, prepare: func(c *Config) (func(), error) {
			apply, err := srv.PrepareReload(warnIPXEBuilds6(c.dhcpv6Config(), store, log))
			if err != nil {
				return nil, c.keyErrorIn("dhcpv6", err)
			}
			return apply, nil
		}},
		name: "dhcpv6",
		addr: conn.LocalAddr().String(),
		serve: func(ctx context.Context) error {
			defer closeAll()
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return srv.Serve(gctx, conn) })
			if ra != nil {
				g.Go(func() error { return srv.ServeRA(gctx, ra) })
			}
			err := g.Wait()
			if serr := shutdown(srv, cfg.ShutdownTimeout); err == nil {
				err = serr
			}
			return err
		},
		close:    closeAll,
		handlers: map[string]http.Handler{"GET " + leases6Path: srv.LeasesHandler()},
		degraded: srv.Degraded,
	}, nil
}

// warnIPXEBuilds6 puts the bootfiles of the dhcpv6 section that are iPXE
// builds in the store into its IPXEBuilds (iPXE clients never get one),
// warning about each, as for DHCPv4.
func warnIPXEBuilds6(dc dhcp.Config6, store *images.Store, log zerolog.Logger) dhcp.Config6 {
	as4 := dhcp.Config{Boot: dhcp.Boot{EFI64: dc.Boot.EFI64, ARM64: dc.Boot.ARM64, IPXE: dc.Boot.IPXE}}
	for _, h := range dc.Hosts {
		as4.Hosts = append(as4.Hosts, dhcp.Host{MAC: h.MAC, Bootfile: h.Bootfile, IPXE: h.IPXE})
	}
	found, err := as4.FindIPXEBuilds(store)
	if err != nil {
		log.Warn().Err(err).Msg("dhcpv6: could not tell whether a bootfile is an iPXE build")
	}
	dc.IPXEBuilds = nil
	for _, b := range found {
		dc.IPXEBuilds = append(dc.IPXEBuilds, b.File)
		log.Warn().Str("key", "dhcpv6."+b.Key).Str("file", b.File).
			Msg("an iPXE build: iPXE clients get no boot file URL, since it would load iPXE again; set dhcpv6.boot.ipxe to an iPXE script")
	}
	return dc
}

// explain6Flags are bootsrv explain's DHCPv6 flags.
type explain6Flags struct {
	on                      *bool
	duid, linkAddr, ifaceID *string
}

func explainV6Flags(fs *flag.FlagSet) explain6Flags {
	return explain6Flags{
		on:       fs.Bool("v6", false, "explain the DHCPv6 answer (dhcpv6 section) instead of the DHCPv4 one"),
		duid:     fs.String("duid", "", "with -v6: the client's DUID as `HEX`; default DUID-LL of -mac"),
		linkAddr: fs.String("link-addr", "", "with -v6: the relay's link-address, for a machine behind a DHCPv6 relay"),
		ifaceID:  fs.String("interface-id", "", "with -v6: the interface-id (option 18) the relay adds"),
	}
}

// runExplain6 is bootsrv explain -v6: the DHCPv6 answer a machine would
// get, and what its boot file URL is.
func runExplain6(ctx context.Context, configFile string, vals map[string]*string, f explain6Flags, asJSON bool, stdout io.Writer) error {
	if *vals["giaddr"] != "" || *vals["circuit_id"] != "" || *vals["client_id"] != "" {
		return errors.New("explain: -giaddr, -circuit-id and -client-id are DHCPv4's; with -v6 use -link-addr, -interface-id and -duid")
	}
	q4, err := netboot.ParseQuery(func(k string) string { return *vals[k] })
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	q := dhcp.ExplainQuery6{MAC: q4.MAC, Arch: q4.Arch, VendorClass: q4.VendorClass, UserClass: q4.UserClass,
		InterfaceID: *f.ifaceID, RemoteID: q4.RemoteID}
	if *f.duid != "" {
		if q.DUID, err = hex.DecodeString(strings.NewReplacer(":", "", "-", "").Replace(*f.duid)); err != nil || len(q.DUID) < 3 {
			return fmt.Errorf("explain: -duid %q is not a DUID in hex", *f.duid)
		}
	}
	if *f.linkAddr != "" {
		if q.LinkAddr, err = netip.ParseAddr(*f.linkAddr); err != nil || !q.LinkAddr.Is6() {
			return fmt.Errorf("explain: -link-addr %q is not an IPv6 address", *f.linkAddr)
		}
	}
	cfg, err := loadConfig(configFile, &serveFlags{set: map[string]string{}})
	if err != nil {
		return err
	}
	e := netboot.Explanation{MAC: q.MAC.String(), Warnings: []string{}, Notes: []string{}}
	dc := cfg.dhcpv6Config()
	if !dc.Enabled() {
		e.Notes = append(e.Notes, "DHCPv6 is off: machines get their boot information from another DHCPv6 server")
	} else {
		leases, lerr := dhcp.ListLeases(ctx, dhcp.Config{Mode: "server", LeaseFile: dc.WithDefaults().LeaseFile, LeaseStore: dc.LeaseStore})
		if lerr != nil {
			e.Notes = append(e.Notes, "no leases read ("+lerr.Error()+"): the machine is explained as one the server has not seen")
		}
		srv, note, err := dhcp.NewExplainer6(dc, leases)
		if err != nil {
			return cfg.keyErrorIn("dhcpv6", err)
		}
		if note != "" {
			e.Notes = append(e.Notes, note)
		}
		d := srv.Explain(q)
		e.DHCP = &d
		if d.Bootfile != "" {
			var name string
			e.Bootfile, name = describeURL6(cfg, d.Bootfile, srv.ServerIP())
			if e.Bootfile.Kind == "missing" {
				e.Warnings = append(e.Warnings, fmt.Sprintf("%q is neither a boot script nor a file of the image store: the machine will not boot", name))
			}
		}
	}
	if asJSON {
		return writeIndented(stdout, e)
	}
	netboot.PrintExplanation(stdout, e)
	return nil
}

// describeURL6 says what a boot file URL on this server is (a boot
// script, a file of the image store, or missing), with its name in the
// store; a URL elsewhere is a url.
func describeURL6(cfg *Config, rawURL string, server netip.Addr) (*netboot.Bootfile, string) {
	b := &netboot.Bootfile{Name: rawURL, Kind: "url"}
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() != server.String() {
		return b, ""
	}
	name := strings.TrimPrefix(u.Path, "/")
	if u.Scheme == "http" {
		p, ok := strings.CutPrefix(u.Path, cfg.HTTP.ImagesPath)
		if !ok {
			return b, ""
		}
		name = p
	}
	for _, sc := range cfg.Scripts {
		if sc.Name == name {
			b.Kind = "script"
			return b, name
		}
	}
	b.Kind = "missing"
	store, err := images.Open(cfg.Images.Root)
	if err != nil {
		return b, name
	}
	defer store.Close()
	if fi, err := store.Stat(name); err == nil && fi.Mode().IsRegular() {
		b.Kind, b.Size = "file", fi.Size()
	}
	return b, name
}
