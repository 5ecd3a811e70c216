package main

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/netboot"
	"github.com/bootsrv/bootsrv/scripts"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// scriptsConfig is the scripts section with what it needs from the others:
// the config file's directory, the DHCP reservations, the HTTP address and
// images path.
func (c *Config) scriptsConfig() scripts.Config {
	sc := scripts.Config{Scripts: c.Scripts, Dir: ".", HTTPAddr: c.HTTP.Listen, ServerIP: c.DHCP.ServerIP,
		ImagesPath: c.HTTP.ImagesPath}
	if c.file != "" {
		sc.Dir = filepath.Dir(c.file)
	}
	for i, h := range c.DHCP.Hosts {
		sc.Hosts = append(sc.Hosts, netboot.ScriptHost(h, fmt.Sprintf("dhcp.hosts[%d]", i)))
	}
	return sc
}

// scriptsError names the file, line and key of a scripts error. For an
// error inside an inline template written as a literal block (|), the line
// is the template's own line in the config file.
func (c *Config) scriptsError(err error) error {
	var ke *cfgerr.Error
	if !errors.As(err, &ke) {
		return c.keyError("scripts", err)
	}
	if _, ok := c.flags[ke.Key]; !ok && ke.Line > 0 {
		if line := c.literalLine(ke.Key, ke.Line); line > 0 {
			return fmt.Errorf("%s:%d: %s: %w", c.source, line, ke.Key, ke.Err)
		}
	}
	return c.keyError(ke.Key, ke.Err)
}

// literalLine is the file line of line n of the literal block scalar (|)
// at key, or 0 when the value is written otherwise.
func (c *Config) literalLine(key string, n int) int {
	f, err := parser.ParseBytes(c.raw, 0)
	if err != nil {
		return 0
	}
	p, err := yaml.PathString("$." + key)
	if err != nil {
		return 0
	}
	node, err := p.FilterFile(f)
	lit, ok := node.(*ast.LiteralNode)
	if err != nil || !ok || lit.Start == nil || !strings.HasPrefix(lit.Start.Value, "|") {
		return 0
	}
	// The block's text starts on the line after its "|" (the value
	// token's own position is not reliably its first line).
	return lit.Start.Position.Line + n
}

// dhcpClients answers the boot layer's lease lookups from the DHCP
// servers, which are built after the layer: srv and srv6 are set before
// any service serves, and stay nil when DHCP or DHCPv6 is off.
type dhcpClients struct {
	srv  *dhcp.Server
	srv6 *dhcp.Server6 // for IPv6 addresses (dhcpv6.go)
}

func (d *dhcpClients) lookup(ip netip.Addr) (dhcp.ClientInfo, bool) {
	if ip.Is6() && !ip.Is4In6() {
		if d.srv6 == nil {
			return dhcp.ClientInfo{}, false
		}
		return d.srv6.Client(ip)
	}
	if d.srv == nil {
		return dhcp.ClientInfo{}, false
	}
	return d.srv.Client(ip.Unmap())
}

// netbootConfig is what the boot layer serves, from the whole config.
func (c *Config) netbootConfig() netboot.Config {
	return netboot.Config{Uploads: c.Images.Uploads, Scripts: c.scriptsConfig()}
}
