package netboot

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/scripts"
	"github.com/bootsrv/bootsrv/tftp"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Config is what the layer serves, from the config file.
type Config struct {
	// Uploads is images.uploads: the store folder uploads land in.
	Uploads string
	// Scripts are the boot scripts and what their templates are checked
	// against (the scripts section, dhcp.hosts as scripts.Host, the HTTP
	// address). Its Leases, Neighbours and Events are the layer's own and
	// are overwritten.
	Scripts scripts.Config
}

// Leases finds the DHCP client that holds an address (dhcp.Server.Client);
// nil when DHCP is off.
type Leases func(ip netip.Addr) (dhcp.ClientInfo, bool)

// Layer is the live boot layer: what each protocol serves and who the
// machine asking is.
type Layer struct {
	events  event.Sink // the boot timeline; nil: none
	store   *images.Store
	uploads atomic.Pointer[string]
	scripts *scripts.Server
	leases  Leases
	// neighbours finds a peer's MAC on an attached link; procARP unless
	// a test replaces it.
	neighbours func(netip.Addr) (net.HardwareAddr, bool)
}

// New builds the layer over store. leases (nil: DHCP is off) is asked for
// the machine behind an address before the neighbour table; events (nil:
// none) is told of every render and HTTP transfer.
func New(cfg Config, store *images.Store, leases Leases, events event.Sink, log zerolog.Logger, reg prometheus.Registerer) (*Layer, error) {
	l := &Layer{store: store, leases: leases, events: events, neighbours: procARP}
	l.uploads.Store(&cfg.Uploads)
	scr, err := scripts.New(l.scriptsConfig(cfg.Scripts), log.With().Str("service", "scripts").Logger(), reg)
	if err != nil {
		return nil, err
	}
	l.scripts = scr
	return l, nil
}

// scriptsConfig is sc with the layer's machine lookups.
func (l *Layer) scriptsConfig(sc scripts.Config) scripts.Config {
	sc.Leases = l.scriptLease
	sc.Events = l.events
	sc.Neighbours = func(ip netip.Addr) (net.HardwareAddr, bool) { return l.neighbours(ip) }
	return sc
}

// TFTP is the tftp.Handler bootsrv serves: boot scripts, else store files;
// uploads into the upload folder.
func (l *Layer) TFTP() tftp.Handler { return &tftpHandler{l: l} }

// Files serves the image store over HTTP, boot scripts in front of it; the
// request's path is the name (the web server strips http.images_path).
func (l *Layer) Files() http.Handler { return l.scripts.Handler(l.store.Handler()) }

// ScriptNames lists the boot script names, in config order.
func (l *Layer) ScriptNames() []string { return l.scripts.Names() }

// Resolve finds the MAC of the machine at ip: the DHCP lease it holds,
// else the kernel's neighbour table. It is the boot timeline's resolver.
func (l *Layer) Resolve(ip netip.Addr) (net.HardwareAddr, bool) {
	if l.leases != nil {
		if ci, ok := l.leases(ip); ok && ci.MAC != nil {
			return ci.MAC, true
		}
	}
	return l.neighbours(ip)
}

// scriptLease is what the DHCP server knows of ip, as scripts see it.
func (l *Layer) scriptLease(ip netip.Addr) (scripts.Lease, bool) {
	if l.leases == nil {
		return scripts.Lease{}, false
	}
	ci, ok := l.leases(ip)
	if !ok {
		return scripts.Lease{}, false
	}
	sl := scripts.Lease{MAC: ci.MAC, Hostname: ci.Hostname, Arch: ci.Arch}
	if ci.Host != nil {
		h := ScriptHost(*ci.Host, "dhcp.hosts")
		sl.Host = &h
	}
	return sl, true
}

// ScriptHost is a DHCP reservation as boot scripts see it; key is where it
// is configured, e.g. "dhcp.hosts[2]", for error messages.
func ScriptHost(h dhcp.Host, key string) scripts.Host {
	vars := map[string]string{}
	for k, v := range h.Vars {
		vars[k] = v
	}
	return scripts.Host{MAC: h.MAC, IP: h.IP, Hostname: h.Hostname, Bootfile: h.Bootfile, Vars: vars, Key: key}
}

// PrepareReload checks cfg and returns what puts it into effect; nothing
// changes when it fails. The apply function cannot fail.
func (l *Layer) PrepareReload(cfg Config) (apply func(), err error) {
	applyScripts, err := l.scripts.PrepareReload(l.scriptsConfig(cfg.Scripts))
	if err != nil {
		return nil, fmt.Errorf("scripts: %w", err)
	}
	return func() {
		applyScripts()
		l.uploads.Store(&cfg.Uploads)
	}, nil
}
