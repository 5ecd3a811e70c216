package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/images"
)

// leasesPath is where the HTTP server serves the DHCP lease list
// (dhcp.Server.LeasesHandler), read by `bootsrv leases` while a running
// server holds the lease file.
const leasesPath = "/dhcp/leases"

// dhcpConfig is the dhcp section with what it needs from the others: the
// names served as boot scripts, which are not expected in the store.
func (c *Config) dhcpConfig() dhcp.Config {
	dc := c.DHCP
	dc.Scripts = nil
	for _, sc := range c.Scripts {
		dc.Scripts = append(dc.Scripts, sc.Name)
	}
	return dc
}

// startDHCP binds the DHCP responder when the config enables it and returns
// nil when it does not. The lease file is opened (and a locked or corrupt
// one refused) before the socket is bound.
//
// clients is pointed at the server, for the boot scripts' lease lookups.
func startDHCP(ctx context.Context, cfg dhcp.Config, store *images.Store, clients *dhcpClients, drain time.Duration, log zerolog.Logger, reg prometheus.Registerer) (*service, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	cfg = warnIPXEBuilds(cfg, store, log)
	srv, err := dhcp.New(cfg, store, log, reg)
	if err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	clients.srv = srv
	conn, err := dhcp.Listen(ctx, cfg.Interface, cfg.WithDefaults().Port)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("dhcp: listen on %s: %w", cfg.Interface, err)
	}
	pxe, err := listenPXE(ctx, srv, cfg, log)
	if err != nil {
		conn.Close()
		srv.Close()
		return nil, err
	}
	watch := listenClientPort(ctx, cfg, log)
	closeExtra := func() {
		for _, c := range []net.PacketConn{pxe, watch} {
			if c != nil {
				c.Close()
			}
		}
	}
	return &service{
		live: &livePart{keys: []string{"dhcp"}, prepare: func(c *Config) (func(), error) {
			dc := warnIPXEBuilds(c.dhcpConfig(), store, log)
			apply, err := srv.PrepareReload(dc)
			if err != nil {
				return nil, c.keyErrorIn("dhcp", err)
			}
			return apply, nil
		}},
		name: "dhcp",
		addr: conn.LocalAddr().String(),
		serve: func(ctx context.Context) error {
			defer srv.Close()
			defer conn.Close()
			defer closeExtra()
			err := serveDHCP(ctx, srv, conn, pxe, watch, log)
			if serr := shutdown(srv, drain); err == nil {
				err = serr
			}
			return err
		},
		close: func() error {
			conn.Close()
			closeExtra()
			return srv.Close()
		},
		handlers: map[string]http.Handler{"GET " + leasesPath: srv.LeasesHandler()},
		degraded: srv.Degraded,
	}, nil
}

// warnIPXEBuilds is findIPXEBuilds, with a warning logged for each build
// found (at start and at each reload).
func warnIPXEBuilds(cfg dhcp.Config, store *images.Store, log zerolog.Logger) dhcp.Config {
	cfg, builds, err := findIPXEBuilds(cfg, store)
	if err != nil {
		log.Warn().Err(err).Msg("dhcp: could not tell whether a bootfile is an iPXE build")
	}
	for _, b := range builds {
		log.Warn().Str("key", "dhcp."+b.Key).Str("file", b.File).Msg(ipxeBuildAdvice(b))
	}
	return cfg
}

// findIPXEBuilds puts the bootfiles of cfg that are iPXE builds in the
// store (dhcp.Config.FindIPXEBuilds) into cfg.IPXEBuilds, so iPXE clients
// never get one, and returns them for a warning each.
func findIPXEBuilds(cfg dhcp.Config, store *images.Store) (dhcp.Config, []dhcp.IPXEBuild, error) {
	found, err := cfg.FindIPXEBuilds(store)
	cfg.IPXEBuilds = nil
	for _, b := range found {
		cfg.IPXEBuilds = append(cfg.IPXEBuilds, b.File)
	}
	return cfg, found, err
}

// ipxeBuildAdvice tells the admin what an iPXE build as bootfile means and
// which key to set.
func ipxeBuildAdvice(b dhcp.IPXEBuild) string {
	set := "dhcp.boot.ipxe"
	if host, ok := strings.CutSuffix(b.Key, ".bootfile"); ok {
		set = "dhcp." + host + ".ipxe or dhcp.boot.ipxe"
	}
	return fmt.Sprintf("dhcp.%s: %q is an iPXE build, so iPXE clients (user class iPXE: qemu, libvirt and Proxmox VMs, "+
		"chainloaded iPXE) get no bootfile, since it would load iPXE again; set %s to an iPXE script or URL for them",
		b.Key, b.File, set)
}

// listenClientPort opens the passive rogue-server listener on the client
// port when dhcp.rogue_detection.listen is on. It is best effort: when the
// port cannot be bound DHCP runs without it, after one warning.
func listenClientPort(ctx context.Context, cfg dhcp.Config, log zerolog.Logger) net.PacketConn {
	cfg = cfg.WithDefaults()
	if !*cfg.RogueDetection.Listen {
		return nil
	}
	c, err := dhcp.ListenClientPort(ctx, cfg.Interface, cfg.Port+1)
	if err != nil {
		log.Warn().Err(err).Str("interface", cfg.Interface).Int("port", cfg.Port+1).
			Msg("dhcp rogue detection: client port not bound; other servers are seen only through REQUESTs")
		return nil
	}
	return c
}

// runLeases is "bootsrv leases": it lists the leases in the lease file, or,
// when a running bootsrv holds the file, asks that server over HTTP; with
// a PostgreSQL lease store, it reads the database.
func runLeases(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootsrv leases", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config `FILE` naming dhcp.lease_file (and http.listen)")
	leaseFile := fs.String("lease-file", "", "lease `FILE`, overriding the config")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	v6 := fs.Bool("v6", false, "the DHCPv6 leases (dhcpv6.lease_file)")
	user := userFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("leases: unexpected argument %q", fs.Arg(0))
	}
	path, httpAddr, httpCert, route := *leaseFile, "", "", leasesPath
	var shared *dhcp.Config
	if path == "" || *configFile != "" {
		cfg, err := loadConfig(*configFile, &serveFlags{set: map[string]string{}})
		if err != nil {
			return err
		}
		if *v6 {
			// The DHCPv6 section in the DHCPv4 one's shape, for its store.
			cfg.DHCP = dhcp.Config{Mode: cfg.DHCPv6.Mode, LeaseFile: cfg.DHCPv6.LeaseFile, LeaseStore: cfg.DHCPv6.LeaseStore}
			route = leases6Path
		}
		if path == "" && cfg.DHCP.Mode == "proxy" {
			return errors.New("leases: dhcp mode proxy keeps no leases (the segment's DHCP server does)")
		}
		if path == "" && cfg.DHCP.LeaseStore.Type == dhcp.StorePostgres {
			shared = &cfg.DHCP
		}
		if path == "" {
			path = cfg.DHCP.WithDefaults().LeaseFile
			if *v6 {
				path = cfg.DHCPv6.WithDefaults().LeaseFile
			}
		}
		httpAddr, httpCert = cfg.HTTP.Listen, cfg.HTTP.TLS.Cert
	}
	if shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		leases, err := dhcp.ListLeases(ctx, *shared)
		if err != nil {
			return fmt.Errorf("leases: %w", err)
		}
		return writeLeases(stdout, leases, *asJSON)
	}
	leases, err := dhcp.ReadLeases(path)
	if errors.Is(err, dhcp.ErrLeaseFileLocked) && httpAddr != "" && httpAddr != "off" {
		var herr error
		if leases, herr = fetchLeases(httpAddr, httpCert, *user, route); herr != nil {
			return fmt.Errorf("leases: %w; asking the running server failed too: %v", err, herr)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("leases: %w", err)
	}
	return writeLeases(stdout, leases, *asJSON)
}

// writeLeases prints leases sorted by address, as a table or JSON.
func writeLeases(w io.Writer, leases []dhcp.Lease, asJSON bool) error {
	sort.Slice(leases, func(i, j int) bool { return leases[i].IP.Less(leases[j].IP) })
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(leases)
	}
	return printLeases(w, leases, time.Now())
}

// fetchLeases reads the lease list from a running bootsrv's HTTP server
// (http.listen, http.tls.cert) at route (leasesPath, or leases6Path for
// DHCPv6), as user when one is given.
func fetchLeases(listen, cert, user, route string) ([]dhcp.Lease, error) {
	api, err := newServerAPI(listen, cert, user, 5*time.Second)
	if err != nil {
		return nil, err
	}
	resp, err := api.http.Get(api.base + route)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", route, resp.Status)
	}
	var leases []dhcp.Lease
	if err := json.NewDecoder(resp.Body).Decode(&leases); err != nil {
		return nil, fmt.Errorf("GET %s: %w", route, err)
	}
	return leases, nil
}

// printLeases prints a table; a SERVER column (which server wrote each
// record) when several servers share the store.
func printLeases(w io.Writer, leases []dhcp.Lease, now time.Time) error {
	servers := slices.ContainsFunc(leases, func(l dhcp.Lease) bool { return l.Server != "" })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "IP\tMAC\tCLIENT-ID\tHOSTNAME\tEXPIRES\tSTATE"
	if servers {
		head += "\tSERVER"
	}
	fmt.Fprintln(tw, head)
	for _, l := range leases {
		state := "active"
		switch {
		case l.Declined:
			state = "declined"
		case !l.Active(now):
			state = "expired"
		}
		cid := l.ClientID
		if l.DUID != "" { // DHCPv6: the identity association
			cid = fmt.Sprintf("duid %s iaid %d", l.DUID, l.IAID)
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", l.IP, dash(l.MAC), dash(cid), dash(l.Hostname),
			l.Expiry.UTC().Format(time.RFC3339), state)
		if servers {
			row += "\t" + dash(l.Server)
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
