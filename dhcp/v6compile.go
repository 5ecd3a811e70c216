package dhcp

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/rfc1035label"

	"github.com/bootsrv/bootsrv/boot"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// compiled6 is a validated Config6 in the form the DHCPv6 server uses.
type compiled6 struct {
	cfg      Config6
	serverIP netip.Addr // may be invalid: resolved from the interface at start
	pools    []*pool6
	byDUID   map[string]*host6 // key: raw DUID bytes
	byMAC    map[string]*host6 // key: net.HardwareAddr.String()
	// boot are the boot entries as URLs on serverIP (resolve); names as
	// configured until then.
	boot   boot.Entries
	params dhcpv6.Option // option 60, nil when not configured
	rules  []rule6
}

// rule6 is a compiled DHCPv6 zero-touch provisioning rule.
type rule6 struct {
	match boot.Match
	// url is option 59: the rule's bootfile, a URL after resolve.
	url string
}

type pool6 struct {
	name        string // the subnet string, used as a metric label
	prefix      netip.Prefix
	first, last netip.Addr // dynamic range; invalid when there is none
	leaseTime   time.Duration
	// dns and domains are options 23 and 24, encoded once; nil when not
	// configured.
	dns, domains dhcpv6.Option
}

type host6 struct {
	mac      net.HardwareAddr
	duid     []byte
	ip       netip.Addr
	hostname string
	// bootfile and ipxe are the overrides, as URLs after resolve.
	bootfile, ipxe string
	conf           Host6  // as configured
	key            string // where it is configured, dhcpv6.hosts[i]
}

func (c Config6) compile() (*compiled6, error) {
	c = c.WithDefaults()
	var err error
	out := &compiled6{cfg: c, byDUID: map[string]*host6{}, byMAC: map[string]*host6{}}
	switch c.Mode {
	case "":
		if len(c.Pools) == 0 && len(c.Hosts) == 0 {
			return out, nil // DHCPv6 is off; nothing to check
		}
		return nil, cfgerr.Errorf("mode", "pools are configured but mode is not set; set mode: server")
	case "server":
	case "proxy":
		return nil, cfgerr.Errorf("mode", "DHCPv6 has no proxy mode (no standard defines a proxyDHCPv6); dhcp.mode: proxy serves IPv4 clients only")
	default:
		return nil, cfgerr.Errorf("mode", "%q is not a mode; use server", c.Mode)
	}
	if c.Interface == "" {
		return nil, cfgerr.Errorf("interface", "required: the interface DHCPv6 binds to")
	}
	if c.ServerIP != "" {
		a, err := parseAddr6("server_ip", c.ServerIP)
		if err != nil {
			return nil, err
		}
		if a.IsLinkLocalUnicast() {
			return nil, cfgerr.Errorf("server_ip", "%s is link-local: boot file URLs need an address clients can reach from any link", a)
		}
		out.serverIP = a
	}
	switch {
	case c.Port < 1 || c.Port > 65535:
		return nil, cfgerr.Errorf("port", "must be 1-65535")
	case c.DeclineTime < 0 || c.OfferTime < 0:
		return nil, cfgerr.Errorf("offer_time", "durations must not be negative")
	case c.MaxHandlers < 0:
		return nil, cfgerr.Errorf("max_handlers", "must not be negative")
	case c.Preference < 0 || c.Preference > 255:
		return nil, cfgerr.Errorf("preference", "must be 0-255")
	case len(c.Pools) == 0:
		return nil, cfgerr.Errorf("pools", "server mode needs at least one pool")
	}
	if err := c.RateLimit.validate(); err != nil {
		return nil, err
	}
	if err := validateLeaseStore(c.LeaseFile, c.LeaseStore); err != nil {
		return nil, err
	}
	for i, p := range c.Pools {
		cp, err := compilePool6(fmt.Sprintf("pools[%d]", i), p)
		if err != nil {
			return nil, err
		}
		for j, q := range out.pools {
			if q.prefix.Overlaps(cp.prefix) {
				return nil, cfgerr.Errorf(fmt.Sprintf("pools[%d].subnet", i), "overlaps pools[%d].subnet %s", j, q.name)
			}
		}
		out.pools = append(out.pools, cp)
	}
	if err := out.compileHosts(c.Hosts); err != nil {
		return nil, err
	}
	if err := c.checkBoot(); err != nil {
		return nil, err
	}
	b := c.Boot
	out.boot = boot.Entries{Key: "dhcpv6.boot", EFI64: b.EFI64, ARM64: b.ARM64, HTTP: b.HTTP, IPXE: b.IPXE}
	if len(b.Params) > 0 {
		out.params = dhcpv6.OptBootFileParam(b.Params...)
	}
	if out.rules, err = compileRules6(c.Rules); err != nil {
		return nil, err
	}
	return out, nil
}

func compileRules6(rules []Rule) ([]rule6, error) {
	out := make([]rule6, 0, len(rules))
	for i, r := range rules {
		key := fmt.Sprintf("rules[%d]", i)
		m, err := boot.CompileMatch(key+".match", r.Match.spec())
		if err != nil {
			return nil, err
		}
		switch {
		case len(r.Options) > 0:
			return nil, cfgerr.Errorf(key+".options", "DHCPv6 rules set the boot file URL (option 59) only; options are DHCPv4 codes")
		case r.Bootfile == "":
			return nil, cfgerr.Errorf(key+".bootfile", "required: the boot file (URL or name) the rule gives")
		}
		if err := checkBootEntry(key+".bootfile", r.Bootfile, false, 0); err != nil {
			return nil, err
		}
		url := r.Bootfile
		if r.TFTPServer != "" && !strings.Contains(url, "://") {
			host := r.TFTPServer
			if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
				host = "[" + a.String() + "]"
			}
			url = "tftp://" + host + "/" + strings.TrimLeft(url, "/")
		}
		out = append(out, rule6{match: m, url: url})
	}
	return out, nil
}

func compilePool6(key string, p Pool6) (*pool6, error) {
	pfx, err := netip.ParsePrefix(strings.TrimSpace(p.Subnet))
	if err != nil || !pfx.Addr().Is6() || pfx.Addr().Is4In6() || pfx.Bits() > 124 {
		return nil, cfgerr.Errorf(key+".subnet", "%q is not an IPv6 prefix like fd00:10::/64", p.Subnet)
	}
	pfx = pfx.Masked()
	out := &pool6{name: pfx.String(), prefix: pfx, leaseTime: p.LeaseTime}
	if p.Range != "" {
		a, b, ok := strings.Cut(p.Range, "-")
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || !first.Is6() || !last.Is6() || first.Zone() != "" || last.Zone() != "" {
			return nil, cfgerr.Errorf(key+".range", "%q is not a range like fd00:10::100-fd00:10::1ff", p.Range)
		}
		if !pfx.Contains(first) || !pfx.Contains(last) || last.Less(first) {
			return nil, cfgerr.Errorf(key+".range", "%q must be ascending and inside %s", p.Range, pfx)
		}
		if first == pfx.Addr() {
			// RFC 4291 §2.6.1: the Subnet-Router anycast address.
			return nil, cfgerr.Errorf(key+".range", "must not include %s, the subnet-router anycast address", first)
		}
		out.first, out.last = first, last
	}
	dns, err := parseAddrs6(key+".dns", p.DNS)
	if err != nil {
		return nil, err
	}
	if len(dns) > 0 {
		ips := make([]net.IP, len(dns))
		for i, a := range dns {
			ips[i] = a.AsSlice()
		}
		out.dns = dhcpv6.OptDNS(ips...)
	}
	if len(p.Domain) > 0 {
		for i, d := range p.Domain {
			if d == "" || len(d) > 253 || strings.ContainsAny(d, " \t/") {
				return nil, cfgerr.Errorf(fmt.Sprintf("%s.domain[%d]", key, i), "%q is not a domain name", d)
			}
		}
		out.domains = dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: p.Domain})
	}
	if p.LeaseTime < 10*time.Second || p.LeaseTime > 365*24*time.Hour {
		return nil, cfgerr.Errorf(key+".lease_time", "must be between 10s and 365 days")
	}
	return out, nil
}

func (c *compiled6) compileHosts(hosts []Host6) error {
	ips := map[netip.Addr]int{}
	for i, h := range hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		ch := &host6{hostname: h.Hostname, bootfile: h.Bootfile, ipxe: h.IPXE, conf: h, key: "dhcpv6." + key}
		if h.MAC == "" && h.DUID == "" {
			return cfgerr.Errorf(key+".mac", "a host needs mac or duid")
		}
		if h.MAC != "" {
			mac, err := net.ParseMAC(h.MAC)
			if err != nil {
				return cfgerr.Errorf(key+".mac", "%q is not a MAC address", h.MAC)
			}
			ch.mac = mac
		}
		if h.DUID != "" {
			d, err := hex.DecodeString(strings.NewReplacer(":", "", "-", "").Replace(strings.TrimSpace(h.DUID)))
			if err != nil || len(d) < 3 || len(d) > 130 {
				return cfgerr.Errorf(key+".duid", "%q is not a DUID in hex, like 00:03:00:01:52:54:00:12:34:56", h.DUID)
			}
			if _, dup := c.byDUID[string(d)]; dup {
				return cfgerr.Errorf(key+".duid", "%q is reserved twice", h.DUID)
			}
			ch.duid = d
			c.byDUID[string(d)] = ch
		} else {
			if _, dup := c.byMAC[ch.mac.String()]; dup {
				return cfgerr.Errorf(key+".mac", "%s is reserved twice", ch.mac)
			}
			c.byMAC[ch.mac.String()] = ch
		}
		if h.IP != "" {
			a, err := parseAddr6(key+".ip", h.IP)
			if err != nil {
				return err
			}
			if c.poolFor(a) == nil {
				return cfgerr.Errorf(key+".ip", "%s is in no pool's subnet", a)
			}
			if j, dup := ips[a]; dup {
				return cfgerr.Errorf(key+".ip", "%s is also reserved by hosts[%d]", a, j)
			}
			ips[a] = i
			ch.ip = a
		}
		for k, v := range map[string]string{"bootfile": h.Bootfile, "ipxe": h.IPXE} {
			if err := checkBootEntry(key+"."+k, v, k == "ipxe", c.cfg.HTTPPort); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBoot checks the boot entries: each a URL, or a name for the store.
func (c Config6) checkBoot() error {
	b := c.Boot
	for _, e := range []struct {
		key, v string
		http   bool // a name becomes an http:// URL
	}{{"efi64", b.EFI64, false}, {"arm64", b.ARM64, false}, {"http", b.HTTP, true}, {"ipxe", b.IPXE, true}} {
		if err := checkBootEntry("boot."+e.key, e.v, e.http, c.HTTPPort); err != nil {
			return err
		}
		if e.key == "http" && strings.HasPrefix(e.v, "tftp://") {
			return cfgerr.Errorf("boot.http", "UEFI HTTP boot needs an http:// or https:// URL, not %q", e.v)
		}
	}
	for i, p := range b.Params {
		if p == "" || len(p) > 65535 {
			return cfgerr.Errorf(fmt.Sprintf("boot.params[%d]", i), "must not be empty")
		}
	}
	return nil
}

func checkBootEntry(key, v string, http bool, httpPort int) error {
	switch {
	case v == "":
	case strings.Contains(v, "://"):
		if !strings.HasPrefix(v, "tftp://") && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return cfgerr.Errorf(key, "%q is not a tftp://, http:// or https:// URL", v)
		}
	case http && httpPort == 0 && key == "boot.http":
		return cfgerr.Errorf(key, "%q is a name in the image store, which needs the HTTP server (http.listen is off); give a URL", v)
	}
	return nil
}

// resolve makes the boot entries URLs on serverIP: names in the store
// become tftp:// URLs (firmware bootfiles) or http:// URLs (HTTP boot,
// iPXE scripts; tftp:// when HTTP is off).
func (c *compiled6) resolve(serverIP netip.Addr) {
	c.serverIP = serverIP
	for i := range c.rules {
		c.rules[i].url = c.url(c.rules[i].url, false)
	}
	b := c.cfg.Boot
	builds := map[string]bool{}
	for _, f := range c.cfg.IPXEBuilds {
		builds[c.url(f, false)] = true
		builds[c.url(f, true)] = true
	}
	c.boot = boot.Entries{Key: "dhcpv6.boot", EFI64: c.url(b.EFI64, false), ARM64: c.url(b.ARM64, false),
		HTTP: c.url(b.HTTP, true), IPXE: c.url(b.IPXE, true), IPXEBuilds: builds}
	for _, hs := range []map[string]*host6{c.byDUID, c.byMAC} {
		for _, h := range hs {
			h.bootfile, h.ipxe = c.url(h.conf.Bootfile, false), c.url(h.conf.IPXE, true)
		}
	}
}

// url is name as a URL on the server's address: itself when it is one.
func (c *compiled6) url(name string, http bool) string {
	if name == "" || strings.Contains(name, "://") {
		return name
	}
	name = strings.TrimLeft(name, "/")
	host := "[" + c.serverIP.String() + "]"
	if http && c.cfg.HTTPPort != 0 {
		if c.cfg.HTTPPort != 80 {
			host += ":" + strconv.Itoa(c.cfg.HTTPPort)
		}
		path := c.cfg.ImagesPath
		if path == "" {
			path = "/images/"
		}
		return "http://" + host + path + name
	}
	if c.cfg.TFTPPort != 69 && c.cfg.TFTPPort != 0 {
		host += ":" + strconv.Itoa(c.cfg.TFTPPort)
	}
	return "tftp://" + host + "/" + name
}

// poolFor is the pool whose subnet contains a.
func (c *compiled6) poolFor(a netip.Addr) *pool6 {
	a = a.WithZone("")
	for _, p := range c.pools {
		if p.prefix.Contains(a) {
			return p
		}
	}
	return nil
}

func parseAddr6(key, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return netip.Addr{}, cfgerr.Errorf(key, "%q is not an IPv6 address", s)
	}
	return a, nil
}

func parseAddrs6(key string, ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for i, s := range ss {
		a, err := parseAddr6(fmt.Sprintf("%s[%d]", key, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
