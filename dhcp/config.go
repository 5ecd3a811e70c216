package dhcp

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Config is the `dhcp:` section of the bootsrv config file. The zero value
// is a disabled DHCP service: a DHCP server that starts by accident breaks
// networks, so it runs only when both Mode and Interface are set.
type Config struct {
	// Mode is "server" (pools and reservations) or "proxy" (proxyDHCP, PXE
	// 2.1 §2 / RFC 4578: boot information only, beside the segment's own
	// DHCP server; no addresses, no lease file; see proxy.go). Zero: off.
	Mode string `yaml:"mode"`
	// Interface is the network interface the server binds to
	// (SO_BINDTODEVICE). Zero: off.
	Interface string `yaml:"interface"`
	// ServerIP is this server's address (option 54, siaddr default).
	// Zero: the interface's first IPv4 address, found at start.
	ServerIP string `yaml:"server_ip"`
	// Port is the server UDP port; replies to clients go to Port+1 and to
	// relays at giaddr:Port. Default 67 (RFC 2131 §4.1).
	Port int `yaml:"port"`
	// PXEPort is the PXE boot server port proxy mode also answers on (PXE
	// 2.1 §2: PXE clients send their boot server DHCPREQUEST there,
	// unicast, once they have an address). Default 4011; -1: not opened.
	// Server mode does not use it.
	PXEPort int `yaml:"pxe_port"`
	// LeaseFile is the bbolt file holding acknowledged leases (lease_store
	// type bbolt). Default /var/lib/bootsrv/leases.db in server mode with
	// the bbolt store; proxy mode keeps no leases and opens no file.
	LeaseFile string `yaml:"lease_file"`
	// LeaseStore chooses where leases are kept: the bbolt file LeaseFile,
	// or a PostgreSQL database several servers share (see
	// LeaseStoreConfig). Zero: bbolt.
	LeaseStore LeaseStoreConfig `yaml:"lease_store"`
	// Authoritative makes the server NAK INIT-REBOOT, RENEWING and
	// REBINDING requests (no server id) for an address it holds no lease
	// of that client on, or outside its subnets (RFC 2131 §4.3.2). Zero
	// (false): such requests are ignored, so another server on the segment
	// can answer. A SELECTING request that names this server for an
	// address it did not offer that client is NAKed either way.
	Authoritative bool `yaml:"authoritative"`
	// DeclineTime is how long an address declined by a client (RFC 2131
	// §4.3.3) stays out of use. Default 10m.
	DeclineTime time.Duration `yaml:"decline_time"`
	// LeaseRetention is how long a lease record is kept after it ended
	// (expired, released or declined) before it is deleted from the lease
	// store: while it is kept, the client gets the same address again when
	// it is still free. Default 24h; at least 1m.
	LeaseRetention time.Duration `yaml:"lease_retention"`
	// OfferTime is how long an offered address is held for the client that
	// got the offer. Offers live in memory only. The client's SELECTING
	// REQUEST may still bind it up to twice as long after the OFFER if
	// nobody took it meanwhile (handle.go, offerValid). Default 30s.
	OfferTime time.Duration `yaml:"offer_time"`
	// MaxHandlers bounds the requests waiting for the lease store at
	// once: REQUESTs from the read to their ACK (the lease's commit and
	// fsync), RELEASE and DECLINE, and with a shared PostgreSQL store
	// every message; more are dropped (drops_total{reason="busy"}).
	// DISCOVERs are answered by the reader and need no place. Default 256.
	MaxHandlers int `yaml:"max_handlers"`
	// Pools are the address pools, one per subnet.
	Pools []Pool `yaml:"pools"`
	// Hosts are reservations by MAC address or client identifier.
	Hosts []Host `yaml:"hosts"`
	// Boot is the PXE/iPXE boot policy.
	Boot Boot `yaml:"boot"`
	// Scripts are file names served from memory as per-machine boot
	// scripts (filled in by the caller from the scripts section): they are
	// not expected in the image store.
	Scripts []string `yaml:"-"`
	// Events is told of every message in and reply out, for the boot
	// timeline; fixed by New. Zero: nobody is.
	Events event.Sink `yaml:"-"`
	// IPXEBuilds are bootfile names (as configured) that are iPXE builds
	// in the image store, filled in by the caller from FindIPXEBuilds: an
	// iPXE client never gets one of them, since it would load iPXE again.
	// Zero: none is known; an iPXE client without an ipxe entry gets its
	// architecture's bootfile.
	IPXEBuilds []string `yaml:"-"`
	// Rules are zero-touch provisioning rules for switches, routers and
	// other devices (first match wins); see Rule.
	Rules []Rule `yaml:"rules"`

	// KnownClientsOnly answers only clients with a reservation in Hosts (by
	// MAC or client id); others are dropped (drops_total{reason=
	// "unknown_client"}). Zero (false): every client is served.
	KnownClientsOnly bool `yaml:"known_clients_only"`
	// RateLimit bounds DISCOVER and REQUEST rates (see RateLimit).
	RateLimit RateLimit `yaml:"rate_limit"`
	// OfferHoldPercent caps the share of each pool's range that outstanding
	// OFFERs may hold; past it offers are made without holding the address
	// (see offerCaps). 1-100, default 50; 100: every offer holds.
	OfferHoldPercent int `yaml:"offer_hold_percent"`
	// RogueDetection reports other DHCP servers on the segment.
	RogueDetection RogueDetection `yaml:"rogue_detection"`
}

// Pool is one subnet served by this server, directly or through relays.
type Pool struct {
	// Subnet in CIDR form, e.g. 10.0.0.0/24. Required. Relayed requests are
	// matched by giaddr (RFC 2131 §4.3.1), local ones by ServerIP.
	Subnet string `yaml:"subnet"`
	// Range is the dynamic range "first-last", inside Subnet. Zero: the pool
	// serves reservations only.
	Range string `yaml:"range"`
	// Router is option 3. Zero: not sent.
	Router string `yaml:"router"`
	// DNS is option 6. Zero: not sent.
	DNS []string `yaml:"dns"`
	// Domain is option 15. Zero: not sent.
	Domain string `yaml:"domain"`
	// NTP is option 42. Zero: not sent.
	NTP []string `yaml:"ntp"`
	// MTU is option 26. Zero: not sent.
	MTU int `yaml:"mtu"`
	// LeaseTime is option 51. Default 1h. T1 (option 58) is half of it and
	// T2 (option 59) seven eighths (RFC 2131 §4.4.5).
	LeaseTime time.Duration `yaml:"lease_time"`
	// Options are extra options by code; see Options for value forms.
	Options Options `yaml:"options"`
}

// Host is a reservation. It is found by ClientID when set (RFC 2132 §9.14
// option 61 takes precedence), otherwise by MAC.
type Host struct {
	// MAC is the hardware address, e.g. 52:54:00:12:34:56.
	MAC string `yaml:"mac"`
	// ClientID is option 61 as hex bytes ("01:52:54:00:12:34:56") or text.
	// Zero: match by MAC.
	ClientID string `yaml:"client_id"`
	// IP is the reserved address; it must lie in one pool's subnet.
	// Zero: the host gets a dynamic address but still its other settings.
	IP string `yaml:"ip"`
	// Hostname is option 12. Zero: not sent.
	Hostname string `yaml:"hostname"`
	// Bootfile overrides the boot policy's bootfile for this host, for PXE
	// firmware and for iPXE clients when no ipxe entry (the host's or
	// Boot.IPXE) applies and it is no iPXE build (see Boot.IPXE). Zero: by
	// architecture.
	Bootfile string `yaml:"bootfile"`
	// IPXE overrides Boot.IPXE for this host. Zero: Boot.IPXE.
	IPXE string `yaml:"ipxe"`
	// NextServer overrides Boot.NextServer for this host.
	NextServer string `yaml:"next_server"`
	// Options are extra options for this host, overriding the pool's.
	Options Options `yaml:"options"`
	// Vars are free-form values for this host's boot scripts (the
	// top-level scripts section), read there as .Vars.name. DHCP does not
	// use them. Zero: none.
	Vars map[string]string `yaml:"vars"`
}

// Boot chooses what PXE and iPXE clients boot (see bootPolicy).
type Boot struct {
	// NextServer is siaddr and option 66, the TFTP server. Default ServerIP.
	NextServer string `yaml:"next_server"`
	// BIOS is the bootfile for client architecture 0 (RFC 4578 option 93).
	BIOS string `yaml:"bios"`
	// EFI32 is the bootfile for architecture 6 (UEFI IA32).
	EFI32 string `yaml:"efi32"`
	// EFI64 is the bootfile for architectures 7 and 9 (UEFI x86-64).
	EFI64 string `yaml:"efi64"`
	// ARM64 is the bootfile for architecture 11 (UEFI ARM64).
	ARM64 string `yaml:"arm64"`
	// IPXE is what clients already running iPXE (user class "iPXE":
	// qemu/libvirt/Proxmox VMs, iPXE chainloaded) get: a file name or a
	// URL. Zero: they get their architecture's bootfile like PXE firmware
	// (pxelinux.0, GRUB), except one that is itself an iPXE build
	// (undionly.kpxe, snponly.efi: see IPXEBuilds), which would load iPXE
	// again in a loop; then they get nothing.
	IPXE string `yaml:"ipxe"`
	// HTTP is the URL for UEFI HTTP boot clients (vendor class HTTPClient,
	// architectures 15, 16, 19). Zero: HTTP boot clients get no boot info.
	HTTP string `yaml:"http"`
}

// Enabled reports whether DHCP should run: only when both Mode and
// Interface are set.
func (c Config) Enabled() bool { return c.Mode != "" && c.Interface != "" }

// DefaultLeaseFile is where leases are kept when lease_file is not set.
const DefaultLeaseFile = "/var/lib/bootsrv/leases.db"

// WithDefaults fills every zero field that has a default.
func (c Config) WithDefaults() Config {
	if c.Port == 0 {
		c.Port = 67
	}
	if c.PXEPort == 0 {
		c.PXEPort = 4011
	}
	if c.Mode != "proxy" {
		c.LeaseStore = c.LeaseStore.withDefaults()
	}
	if c.LeaseFile == "" && c.Mode != "proxy" && !c.LeaseStore.shared() {
		c.LeaseFile = DefaultLeaseFile
	}
	if c.DeclineTime == 0 {
		c.DeclineTime = 10 * time.Minute
	}
	if c.OfferTime == 0 {
		c.OfferTime = 30 * time.Second
	}
	if c.LeaseRetention == 0 {
		c.LeaseRetention = 24 * time.Hour
	}
	if c.MaxHandlers == 0 {
		c.MaxHandlers = 256
	}
	pools := make([]Pool, len(c.Pools))
	for i, p := range c.Pools {
		if p.LeaseTime == 0 {
			p.LeaseTime = time.Hour
		}
		pools[i] = p
	}
	c.Pools = pools
	c = c.safetyDefaults()
	if c.Boot.NextServer == "" {
		c.Boot.NextServer = c.ServerIP
	}
	return c
}

// Validate checks the configuration. Errors are *cfgerr.Error, with the
// key path inside the dhcp section, e.g. "pools[0].range".
func (c Config) Validate() error {
	if _, err := c.compile(); err != nil || !c.Enabled() {
		return err
	}
	return c.WithDefaults().validateStore()
}

func parseAddr(key, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		return netip.Addr{}, cfgerr.Errorf(key, "%q is not an IPv4 address", s)
	}
	return a, nil
}

func parseAddrs(key string, ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for i, s := range ss {
		a, err := parseAddr(fmt.Sprintf("%s[%d]", key, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
