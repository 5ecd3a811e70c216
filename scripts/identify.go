package scripts

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// identify finds out which machine sent req: the MAC from ?mac= first
// (iPXE expands ${net0/mac}; it is the only way through NAT or a proxy),
// else the MAC of the DHCP lease the peer address holds, else the peer's
// entry in the neighbour table. The lease's facts (host name,
// architecture, reservation) are used only when the lease belongs to that
// MAC; a reservation is otherwise found by MAC.
func (c *compiled) identify(req Request) (Machine, error) {
	m := Machine{IP: machineAddr(req.Remote), ArchCode: -1, Source: "none", ServerIP: c.cfg.ServerIP}
	if req.Local.IsValid() {
		m.ServerIP = machineAddr(req.Local)
	}
	m.HTTPBase = c.httpBase(req)
	m.ImagesURL = imagesURL(m.HTTPBase, c.cfg.ImagesPath)
	var mac net.HardwareAddr
	if req.MAC != "" {
		var err error
		if mac, err = parseMAC(req.MAC); err != nil {
			return m, err
		}
		m.Source = "query"
	}
	var lease Lease
	haveLease := false
	if c.cfg.Leases != nil && req.Remote.IsValid() {
		lease, haveLease = c.cfg.Leases(req.Remote)
	}
	switch {
	case mac != nil:
	case haveLease && lease.MAC != nil:
		mac, m.Source = lease.MAC, "lease"
	case req.Remote.IsValid() && c.cfg.Neighbours != nil:
		if hw, ok := c.cfg.Neighbours(req.Remote); ok {
			mac, m.Source = hw, "arp"
		}
	}
	if mac == nil {
		m.Vars = map[string]string{}
		m.Host.Vars = m.Vars
		return m, nil
	}
	setMAC(&m, mac.String())
	host := c.byMAC[mac.String()]
	if haveLease && bytes.Equal(lease.MAC, mac) {
		m.ArchCode = lease.Arch
		// The lease's host name may be what the client sent (option 12):
		// it reaches the script only when it is a host name, so a client
		// cannot write lines of its own into its boot script.
		if ValidHostname(lease.Hostname) {
			m.Hostname = lease.Hostname
		} else if lease.Hostname != "" {
			m.Rejected = "hostname"
		}
		if lease.Host != nil {
			host = lease.Host
		}
	}
	if req.Arch != "" {
		code, ok := parseArch(req.Arch)
		if !ok {
			return m, fmt.Errorf("?arch=%q is no architecture number or name", req.Arch)
		}
		m.ArchCode = code
	}
	m.Arch = archName(m.ArchCode)
	if host != nil {
		m.Known, m.Host = true, *host
		if host.Hostname != "" {
			m.Hostname = host.Hostname
		}
	}
	if m.Host.Vars == nil {
		m.Host.Vars = map[string]string{}
	}
	m.Vars = m.Host.Vars
	return m, nil
}

// parseMAC reads a MAC address as iPXE's ${net0/mac} gives it, or with
// hyphens or without separators.
func parseMAC(s string) (net.HardwareAddr, error) {
	s = strings.TrimSpace(s)
	if len(s) == 12 && !strings.ContainsAny(s, ":-.") {
		var b strings.Builder
		for i := 0; i < 12; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(s[i : i+2])
		}
		s = b.String()
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("?mac=%q is not a MAC address", s)
	}
	return mac, nil
}

// httpBase is http://address:port of the HTTP server as the client
// reaches it. Over HTTP that is the connection's own local address (the
// handler sets req.local). Over TFTP it is the http.listen address: its
// host when it names one, else the address the TFTP request reached.
func (c *compiled) httpBase(req Request) string {
	if req.local.IsValid() {
		return "http://" + URLHost(req.local.Addr().String()) + ":" + strconv.Itoa(int(req.local.Port()))
	}
	host, port, err := net.SplitHostPort(c.cfg.HTTPAddr)
	if err != nil || port == "0" { // also "" and "off"
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return "http://" + URLHost(host) + ":" + port
	}
	server := c.cfg.ServerIP
	if req.Local.IsValid() {
		server = req.Local.String()
	}
	if server == "" {
		return ""
	}
	return "http://" + URLHost(server) + ":" + port
}

// URLHost is host as a URL's host (RFC 3986 section 3.2.2): an IPv6
// address in brackets and without its zone, an IPv4-mapped one as IPv4,
// anything else as it is. The URLs are for the machines that boot, and a
// zone names an interface of the host that reads it (RFC 4007 section
// 11): the server's interface name means nothing to the client, and iPXE
// refuses a zone that names none of its own interfaces, while without one
// it reaches a link-local address over the interface it is using. So the
// zone is left out, not written as RFC 6874's "%25".
func URLHost(host string) string {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if a = a.Unmap().WithZone(""); a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// machineAddr is an address as a template shows it: without an IPv6 zone
// (see URLHost), IPv4-mapped ones as IPv4; empty when unknown.
func machineAddr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().WithZone("").String()
}

// imagesURL is .ImagesURL: base followed by the images path without its
// trailing slash, or empty when base is.
func imagesURL(base, imagesPath string) string {
	if base == "" {
		return ""
	}
	return base + strings.TrimSuffix(imagesPath, "/")
}

// ValidHostname reports whether s is a host name by RFC 1123 §2.1 (and
// RFC 952): dot-separated labels of letters, digits and hyphens, each 1-63
// characters that neither start nor end with a hyphen, 253 characters in
// all. One trailing dot (a fully qualified name) is allowed.
func ValidHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
