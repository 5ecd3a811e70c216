package dhcp

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// compiled is a validated Config in the form the server uses.
type compiled struct {
	cfg      Config
	serverIP netip.Addr // may be invalid: resolved from the interface at start
	pools    []*pool
	byMAC    map[string]*host // key: net.HardwareAddr.String()
	byCID    map[string]*host // key: raw client-id bytes
	boot     bootConf
	rules    []rule
	proxy    bool // mode: proxy (proxy.go)
}

type pool struct {
	name      string // the subnet string, used as a metric label
	prefix    netip.Prefix
	first     uint32 // dynamic range; first > last when there is none
	last      uint32
	router    netip.Addr
	dns, ntp  []netip.Addr
	domain    string
	mtu       int
	leaseTime time.Duration
	options   []option
	wire      poolWire // the settings above as reply options (reply.go)
}

type host struct {
	mac        net.HardwareAddr
	cid        []byte
	ip         netip.Addr
	hostname   string
	bootfile   string
	ipxe       string
	nextServer netip.Addr
	options    []option
	conf       Host   // as configured, for Server.Client
	key        string // where it is configured, dhcp.hosts[i], for logs and the timeline
}

type bootConf struct {
	nextServer                           netip.Addr
	bios, efi32, efi64, arm64, ipxe, url string
	// ipxeBuilds are bootfiles that are iPXE builds (Config.IPXEBuilds):
	// an iPXE client never gets one.
	ipxeBuilds map[string]bool
}

func (c Config) compile() (*compiled, error) {
	c = c.WithDefaults()
	out := &compiled{cfg: c, byMAC: map[string]*host{}, byCID: map[string]*host{}}
	switch c.Mode {
	case "":
		if len(c.Pools) == 0 && len(c.Hosts) == 0 {
			return out, nil // DHCP is off; nothing to check
		}
		return nil, cfgerr.Errorf("mode", "pools are configured but mode is not set; set mode: server")
	case "server":
	case "proxy":
		out.proxy = true
	default:
		return nil, cfgerr.Errorf("mode", "%q is not a mode; use server or proxy", c.Mode)
	}
	if c.Interface == "" {
		return nil, cfgerr.Errorf("interface", "required: the interface DHCP binds to")
	}
	if c.ServerIP != "" {
		a, err := parseAddr("server_ip", c.ServerIP)
		if err != nil {
			return nil, err
		}
		out.serverIP = a
	}
	if c.Port < 1 || c.Port > 65534 {
		return nil, cfgerr.Errorf("port", "must be 1-65534")
	}
	if c.DeclineTime < 0 || c.OfferTime < 0 || c.MaxHandlers < 0 {
		return nil, cfgerr.Errorf("max_handlers", "durations and limits must not be negative")
	}
	if c.LeaseRetention < time.Minute {
		return nil, cfgerr.Errorf("lease_retention", "must be at least 1m, got %s", c.LeaseRetention)
	}
	if out.proxy {
		if err := c.checkProxy(); err != nil {
			return nil, err
		}
	} else if len(c.Pools) == 0 {
		return nil, cfgerr.Errorf("pools", "server mode needs at least one pool")
	}
	if err := c.validateSafety(); err != nil {
		return nil, err
	}
	for i, p := range c.Pools {
		cp, err := compilePool(fmt.Sprintf("pools[%d]", i), p)
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
	b, err := compileBoot(c.Boot)
	if err != nil {
		return nil, err
	}
	if len(c.IPXEBuilds) > 0 {
		b.ipxeBuilds = map[string]bool{}
		for _, f := range c.IPXEBuilds {
			b.ipxeBuilds[f] = true
		}
	}
	out.boot = b
	if out.rules, err = compileRules(c.Rules); err != nil {
		return nil, err
	}
	return out, nil
}

func compilePool(key string, p Pool) (*pool, error) {
	pfx, err := netip.ParsePrefix(strings.TrimSpace(p.Subnet))
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 30 {
		return nil, cfgerr.Errorf(key+".subnet", "%q is not an IPv4 subnet like 10.0.0.0/24 (at most /30)", p.Subnet)
	}
	pfx = pfx.Masked()
	out := &pool{name: pfx.String(), prefix: pfx, first: 1, last: 0, leaseTime: p.LeaseTime, domain: p.Domain, mtu: p.MTU}
	if p.Range != "" {
		a, b, ok := strings.Cut(p.Range, "-")
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || !first.Is4() || !last.Is4() {
			return nil, cfgerr.Errorf(key+".range", "%q is not a range like 10.0.0.100-10.0.0.200", p.Range)
		}
		if !pfx.Contains(first) || !pfx.Contains(last) || last.Less(first) {
			return nil, cfgerr.Errorf(key+".range", "%q must be ascending and inside %s", p.Range, pfx)
		}
		out.first, out.last = u32(first), u32(last)
		network, bcast := u32(pfx.Addr()), u32(pfx.Addr())|^mask(pfx.Bits())
		if out.first == network || out.last == bcast {
			return nil, cfgerr.Errorf(key+".range", "must not include the network or broadcast address")
		}
	}
	if p.Router != "" {
		if out.router, err = parseAddr(key+".router", p.Router); err != nil {
			return nil, err
		}
	}
	if out.dns, err = parseAddrs(key+".dns", p.DNS); err != nil {
		return nil, err
	}
	if out.ntp, err = parseAddrs(key+".ntp", p.NTP); err != nil {
		return nil, err
	}
	if p.MTU != 0 && (p.MTU < 68 || p.MTU > 65535) {
		return nil, cfgerr.Errorf(key+".mtu", "must be 68-65535")
	}
	if p.LeaseTime < 10*time.Second || p.LeaseTime > 365*24*time.Hour {
		return nil, cfgerr.Errorf(key+".lease_time", "must be between 10s and 365 days")
	}
	if out.options, err = compileOptions(key+".options", p.Options); err != nil {
		return nil, err
	}
	out.encodeWire()
	return out, nil
}

func (c *compiled) compileHosts(hosts []Host) error {
	ips := map[netip.Addr]int{}
	for i, h := range hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		ch := &host{hostname: h.Hostname, bootfile: h.Bootfile, ipxe: h.IPXE, conf: h, key: "dhcp." + key}
		if h.MAC == "" && h.ClientID == "" {
			return cfgerr.Errorf(key+".mac", "a host needs mac or client_id")
		}
		if h.MAC != "" {
			mac, err := net.ParseMAC(h.MAC)
			if err != nil {
				return cfgerr.Errorf(key+".mac", "%q is not a MAC address", h.MAC)
			}
			ch.mac = mac
			if _, dup := c.byMAC[mac.String()]; dup && h.ClientID == "" {
				return cfgerr.Errorf(key+".mac", "%s is reserved twice", mac)
			}
		}
		if h.ClientID != "" {
			ch.cid = parseClientID(h.ClientID)
			if _, dup := c.byCID[string(ch.cid)]; dup {
				return cfgerr.Errorf(key+".client_id", "%q is reserved twice", h.ClientID)
			}
			c.byCID[string(ch.cid)] = ch
		} else {
			c.byMAC[ch.mac.String()] = ch
		}
		if h.IP != "" {
			a, err := parseAddr(key+".ip", h.IP)
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
		if h.NextServer != "" {
			a, err := parseAddr(key+".next_server", h.NextServer)
			if err != nil {
				return err
			}
			ch.nextServer = a
		}
		var err error
		if ch.options, err = compileOptions(key+".options", h.Options); err != nil {
			return err
		}
	}
	return nil
}

func compileBoot(b Boot) (bootConf, error) {
	out := bootConf{bios: b.BIOS, efi32: b.EFI32, efi64: b.EFI64, arm64: b.ARM64, ipxe: b.IPXE, url: b.HTTP}
	if b.NextServer != "" {
		a, err := parseAddr("boot.next_server", b.NextServer)
		if err != nil {
			return out, err
		}
		out.nextServer = a
	}
	if b.HTTP != "" && !strings.HasPrefix(b.HTTP, "http://") && !strings.HasPrefix(b.HTTP, "https://") {
		return out, cfgerr.Errorf("boot.http", "%q is not an http:// or https:// URL", b.HTTP)
	}
	for k, v := range map[string]string{"bios": b.BIOS, "efi32": b.EFI32, "efi64": b.EFI64, "arm64": b.ARM64, "ipxe": b.IPXE} {
		if len(v) > 127 && !strings.Contains(v, "://") {
			return out, cfgerr.Errorf("boot."+k, "bootfile names longer than 127 bytes do not fit the file field")
		}
	}
	return out, nil
}

// parseClientID reads "01:52:54:00:12:34:56" style hex, or else takes the
// text as it is.
func parseClientID(s string) []byte {
	if strings.Contains(s, ":") {
		if b, err := hex.DecodeString(strings.ReplaceAll(s, ":", "")); err == nil {
			return b
		}
	}
	return []byte(s)
}

// poolFor is the pool whose subnet contains a.
func (c *compiled) poolFor(a netip.Addr) *pool {
	for _, p := range c.pools {
		if p.prefix.Contains(a) {
			return p
		}
	}
	return nil
}

func u32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func addr(n uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b)
}

func mask(bits int) uint32 { return ^uint32(0) << (32 - bits) }
