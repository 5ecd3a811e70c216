package dhcp

import (
	"time"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// Config6 is the `dhcpv6:` section of the bootsrv config file, in the
// shape of `dhcp:`: a DHCPv6 server (RFC 8415) handing out IA_NA addresses
// from pools and reservations, with boot file URLs (RFC 5970) for UEFI
// PXE, UEFI HTTP boot and iPXE. The zero value is off: it runs only when
// both Mode and Interface are set.
type Config6 struct {
	// Mode is "server". Zero: off. There is no proxy mode: no standard
	// defines a proxyDHCPv6, so `dhcp.mode: proxy` stays IPv4 only.
	Mode string `yaml:"mode"`
	// Interface is the network interface the server binds to
	// (SO_BINDTODEVICE), joins All_DHCP_Relay_Agents_and_Servers (ff02::1:2)
	// on and, with RouterAdvertisements, sends router advertisements on.
	// Zero: off.
	Interface string `yaml:"interface"`
	// ServerIP is this server's IPv6 address: the host of the boot file
	// URLs it builds, and how the pool of clients on its own link is
	// found. Zero: the interface's first global IPv6 address, found at
	// start.
	ServerIP string `yaml:"server_ip"`
	// Port is the server UDP port (RFC 8415 §7.2). Replies go to the
	// port the request came from (546 for clients, 547 for relays).
	// Default 547.
	Port int `yaml:"port"`
	// LeaseFile is the bbolt file holding DHCPv6 leases (lease_store type
	// bbolt); it cannot be dhcp.lease_file, which the DHCPv4 server holds
	// open. Default /var/lib/bootsrv/leases6.db.
	LeaseFile string `yaml:"lease_file"`
	// LeaseStore is where leases are kept, as for dhcp.lease_store: type
	// postgres shares the database (and its table) with the DHCPv4
	// servers; the database decides who holds an address. Zero: bbolt.
	LeaseStore LeaseStoreConfig `yaml:"lease_store"`
	// Preference is option 7 (RFC 8415 §21.8) in ADVERTISEs: 255 makes a
	// client take this server's offer at once instead of waiting for
	// others. Zero: not sent (preference 0).
	Preference int `yaml:"preference"`
	// RapidCommit answers a SOLICIT carrying the Rapid Commit option
	// (iPXE and OVMF send it) with a REPLY that binds the address at once
	// (RFC 8415 §18.3.1), saving a round trip. Zero (false): such a
	// SOLICIT gets an ADVERTISE like any other, as RFC 8415 asks of a
	// server not configured for it.
	RapidCommit bool `yaml:"rapid_commit"`
	// DeclineTime is how long an address a client declined (RFC 8415
	// §18.3.8) stays out of use. Default 10m.
	DeclineTime time.Duration `yaml:"decline_time"`
	// OfferTime is how long an address advertised to a client is held for
	// it, in memory. Default 30s.
	OfferTime time.Duration `yaml:"offer_time"`
	// MaxHandlers bounds the requests handled concurrently; more are
	// dropped (drops_total{reason="busy"}). A request waiting for its
	// lease to be committed does not count (up to 4096 of them may wait),
	// so a slow disk holds up REQUESTs but not the SOLICITs behind them.
	// Default 256.
	MaxHandlers int `yaml:"max_handlers"`
	// Pools are the address pools, one per link (prefix).
	Pools []Pool6 `yaml:"pools"`
	// Hosts are reservations by DUID or MAC address.
	Hosts []Host6 `yaml:"hosts"`
	// Boot is what network-booting clients get in option 59.
	Boot Boot6 `yaml:"boot"`
	// Rules are zero-touch provisioning rules, as dhcp.rules and matched
	// the same way (package boot): vendor_class on option 16's data,
	// mac_oui on the client's MAC (from its DUID, option 79 or its
	// link-local address), circuit_id on a relay's interface-id (option
	// 18), remote_id on its remote-id (option 37, RFC 4649). The first
	// that matches sets option 59 to its bootfile, for any client: a URL,
	// or a name that becomes tftp://[tftp_server or server_ip]/NAME. Their
	// options (DHCPv4 codes) are not allowed here. Zero: none.
	Rules []Rule `yaml:"rules"`
	// KnownClientsOnly answers only clients with a reservation in Hosts;
	// others are dropped (drops_total{reason="unknown_client"}). Zero
	// (false): every client is served.
	KnownClientsOnly bool `yaml:"known_clients_only"`
	// RateLimit bounds message rates as dhcp.rate_limit does; a client is
	// its DUID.
	RateLimit RateLimit `yaml:"rate_limit"`
	// RouterAdvertisements makes bootsrv send ICMPv6 router
	// advertisements (RFC 4861) on Interface, and only there: managed and
	// other-config flags set, the prefix of the pool on the server's link
	// on-link without autoconfiguration, short lifetimes (router 30 s,
	// which UEFI PXE waits 10 s for otherwise; prefix 300 s). UEFI, iPXE
	// and dhcpcd look for the managed flag before they use DHCPv6. For
	// segments without a router: it makes bootsrv their default router for
	// 30 s at a time. Zero (false): none sent.
	RouterAdvertisements bool `yaml:"router_advertisements"`

	// Scripts are file names served from memory as boot scripts (filled
	// in by the caller from the scripts section).
	Scripts []string `yaml:"-"`
	// IPXEBuilds are bootfiles (as configured) that are iPXE builds, as
	// for Config.IPXEBuilds: an iPXE client never gets one.
	IPXEBuilds []string `yaml:"-"`
	// Events is told of every message in and reply out, for the boot
	// timeline; fixed by New6. Zero: nobody is.
	Events event.Sink `yaml:"-"`
	// HTTPPort and ImagesPath place the image store on the HTTP server,
	// for the http:// URLs boot names become (filled in by the caller
	// from the http section). Zero HTTPPort: HTTP is off, and a name
	// there is an error.
	HTTPPort   int    `yaml:"-"`
	ImagesPath string `yaml:"-"`
	// TFTPPort is the TFTP server's port, for the tftp:// URLs boot names
	// become (filled in by the caller). Zero: 69.
	TFTPPort int `yaml:"-"`
}

// Pool6 is one link served by this server, directly or through relays.
type Pool6 struct {
	// Subnet is the link's prefix, normally a /64, e.g. fd00:10::/64.
	// Required. Relayed requests are matched by the relay's link-address
	// (RFC 8415 §13.1), local ones by ServerIP. With router_advertisements
	// it is the prefix advertised.
	Subnet string `yaml:"subnet"`
	// Range is the dynamic range "first-last", inside Subnet. Zero: the
	// pool serves reservations only.
	Range string `yaml:"range"`
	// DNS is option 23 (RFC 3646), recursive name servers. Zero: not sent.
	DNS []string `yaml:"dns"`
	// Domain is option 24 (RFC 3646), the domain search list: a name or a
	// list. Zero: not sent.
	Domain StringList `yaml:"domain"`
	// LeaseTime is the valid and preferred lifetime of an address; T1 is
	// half of it and T2 four fifths (RFC 8415 §21.4). Default 1h.
	LeaseTime time.Duration `yaml:"lease_time"`
}

// Host6 is a reservation, found by DUID when set, else by MAC: the one
// a DUID-LL or DUID-LLT carries, or a relay's client link-layer address
// option (RFC 6939).
type Host6 struct {
	// MAC is the hardware address, e.g. 52:54:00:12:34:56.
	MAC string `yaml:"mac"`
	// DUID is the client's DUID as hex bytes, e.g.
	// "00:03:00:01:52:54:00:12:34:56". Zero: match by MAC.
	DUID string `yaml:"duid"`
	// IP is the reserved IPv6 address; it must lie in a pool's subnet.
	// Zero: a dynamic address, with the host's other settings.
	IP string `yaml:"ip"`
	// Hostname names the host in logs, the lease list and the timeline.
	Hostname string `yaml:"hostname"`
	// Bootfile overrides the architecture's boot entry for this host; IPXE
	// overrides boot.ipxe. Names as in Boot6. Zero: not overridden.
	Bootfile string `yaml:"bootfile"`
	IPXE     string `yaml:"ipxe"`
}

// Boot6 is what network-booting clients get in option 59, the boot file
// URL (RFC 5970 §3.1), chosen by the policy DHCPv4 uses (package boot): by
// client architecture (option 61), for UEFI HTTP boot (vendor class
// HTTPClient, echoed in option 16) and for iPXE (user class iPXE). An
// entry is a URL, or a name in the image store, which becomes
// tftp://[server_ip]/NAME (efi64, arm64) or
// http://[server_ip]:PORT<images_path>NAME (http, ipxe).
type Boot6 struct {
	// EFI64 is for architectures 7 and 9 (UEFI x86-64 PXE), e.g.
	// snponly.efi.
	EFI64 string `yaml:"efi64"`
	// ARM64 is for architecture 11 (UEFI ARM64 PXE).
	ARM64 string `yaml:"arm64"`
	// HTTP is for UEFI HTTP boot clients (vendor class HTTPClient,
	// architectures 16 and 19).
	HTTP string `yaml:"http"`
	// IPXE is for clients already running iPXE (user class iPXE): a boot
	// script, served over HTTP. Zero: they get their architecture's entry,
	// unless it is an iPXE build (see Config.IPXEBuilds).
	IPXE string `yaml:"ipxe"`
	// Params is option 60, the boot file parameters (RFC 5970 §3.2), sent
	// with every boot file URL. Zero: not sent.
	Params []string `yaml:"params"`
}

// Enabled reports whether DHCPv6 should run: only when both Mode and
// Interface are set.
func (c Config6) Enabled() bool { return c.Mode != "" && c.Interface != "" }

// DefaultLeaseFile6 is where DHCPv6 leases are kept when lease_file is
// not set.
const DefaultLeaseFile6 = "/var/lib/bootsrv/leases6.db"

// WithDefaults fills every zero field that has a default.
func (c Config6) WithDefaults() Config6 {
	if c.Port == 0 {
		c.Port = 547
	}
	c.LeaseStore = c.LeaseStore.withDefaults()
	if c.LeaseFile == "" && !c.LeaseStore.shared() {
		c.LeaseFile = DefaultLeaseFile6
	}
	if c.DeclineTime == 0 {
		c.DeclineTime = 10 * time.Minute
	}
	if c.OfferTime == 0 {
		c.OfferTime = 30 * time.Second
	}
	if c.MaxHandlers == 0 {
		c.MaxHandlers = 256
	}
	if c.TFTPPort == 0 {
		c.TFTPPort = 69
	}
	pools := make([]Pool6, len(c.Pools))
	for i, p := range c.Pools {
		if p.LeaseTime == 0 {
			p.LeaseTime = time.Hour
		}
		pools[i] = p
	}
	c.Pools = pools
	c.RateLimit = c.RateLimit.withDefaults()
	return c
}

// Validate checks the configuration. Errors are *cfgerr.Error, with the
// key path inside the dhcpv6 section, e.g. "pools[0].range".
func (c Config6) Validate() error {
	_, err := c.compile()
	return err
}
