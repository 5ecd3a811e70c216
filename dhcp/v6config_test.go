package dhcp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

const issueYAML6 = `
mode: server
interface: eth1
lease_file: /var/lib/bootsrv/leases6.db
pools:
  - {subnet: "fd00:10::/64", range: "fd00:10::100-fd00:10::1ff", dns: ["fd00:10::1"], domain: lab.example, lease_time: 1h}
hosts:
  - {mac: "52:54:00:12:34:56", ip: "fd00:10::50", hostname: node1}
  - {duid: "00:03:00:01:52:54:00:12:34:57", ip: "fd00:10::51"}
boot: {efi64: snponly.efi, arm64: ipxe-arm64.efi, http: ipxe.efi, ipxe: boot.ipxe}
router_advertisements: false
`

// TestConfig6DecodesIssueExample: the section as issue 14 writes it
// decodes strictly and is valid.
func TestConfig6DecodesIssueExample(t *testing.T) {
	var c Config6
	if err := yaml.UnmarshalWithOptions([]byte(issueYAML6), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	c.HTTPPort, c.ImagesPath = 8080, "/images/"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cc, _ := c.compile()
	cc.resolve(netip.MustParseAddr("fd00:10::1"))
	if cc.boot.EFI64 != "tftp://[fd00:10::1]/snponly.efi" || cc.boot.HTTP != "http://[fd00:10::1]:8080/images/ipxe.efi" ||
		cc.boot.IPXE != "http://[fd00:10::1]:8080/images/boot.ipxe" {
		t.Errorf("boot URLs %+v", cc.boot)
	}
	c.TFTPPort, c.HTTPPort, c.Boot.HTTP = 6969, 0, ""
	cc, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	cc.resolve(netip.MustParseAddr("fd00:10::1"))
	if cc.boot.EFI64 != "tftp://[fd00:10::1]:6969/snponly.efi" || cc.boot.IPXE != "tftp://[fd00:10::1]:6969/boot.ipxe" {
		t.Errorf("boot URLs without HTTP %+v", cc.boot)
	}
}

func TestConfig6Errors(t *testing.T) {
	base := func() Config6 {
		return Config6{Mode: "server", Interface: "eth1", HTTPPort: 8080,
			Pools: []Pool6{{Subnet: "fd00::/64", Range: "fd00::100-fd00::1ff"}}}
	}
	for name, tc := range map[string]struct {
		edit func(*Config6)
		key  string
	}{
		"proxy":              {func(c *Config6) { c.Mode = "proxy" }, "mode"},
		"no interface":       {func(c *Config6) { c.Interface = "" }, "interface"},
		"pools without mode": {func(c *Config6) { c.Mode = "" }, "mode"},
		"v4 server_ip":       {func(c *Config6) { c.ServerIP = "10.0.0.1" }, "server_ip"},
		"link-local ip":      {func(c *Config6) { c.ServerIP = "fe80::1" }, "server_ip"},
		"v4 subnet":          {func(c *Config6) { c.Pools[0].Subnet = "10.0.0.0/24" }, "pools[0].subnet"},
		"range outside":      {func(c *Config6) { c.Pools[0].Range = "fd01::1-fd01::9" }, "pools[0].range"},
		"range backwards":    {func(c *Config6) { c.Pools[0].Range = "fd00::9-fd00::1" }, "pools[0].range"},
		"anycast":            {func(c *Config6) { c.Pools[0].Range = "fd00::-fd00::9" }, "pools[0].range"},
		"bad dns":            {func(c *Config6) { c.Pools[0].DNS = []string{"10.0.0.1"} }, "pools[0].dns[0]"},
		"overlap": {func(c *Config6) {
			c.Pools = append(c.Pools, Pool6{Subnet: "fd00::/48"})
		}, "pools[1].subnet"},
		"host without id": {func(c *Config6) { c.Hosts = []Host6{{IP: "fd00::5"}} }, "hosts[0].mac"},
		"bad duid":        {func(c *Config6) { c.Hosts = []Host6{{DUID: "zz"}} }, "hosts[0].duid"},
		"host off pool":   {func(c *Config6) { c.Hosts = []Host6{{MAC: "52:54:00:00:00:01", IP: "fd09::5"}} }, "hosts[0].ip"},
		"twice": {func(c *Config6) {
			c.Hosts = []Host6{{MAC: "52:54:00:00:00:01"}, {MAC: "52:54:00:00:00:01"}}
		}, "hosts[1].mac"},
		"http name, no http": {func(c *Config6) { c.HTTPPort, c.Boot.HTTP = 0, "ipxe.efi" }, "boot.http"},
		"http over tftp":     {func(c *Config6) { c.Boot.HTTP = "tftp://[fd00::1]/x" }, "boot.http"},
		"bad scheme":         {func(c *Config6) { c.Boot.EFI64 = "ftp://x/y" }, "boot.efi64"},
		"preference":         {func(c *Config6) { c.Preference = 256 }, "preference"},
		"postgres file":      {func(c *Config6) { c.LeaseFile, c.LeaseStore = "/x", LeaseStoreConfig{Type: "postgres", DSN: "host=db"} }, "lease_file"},
		"rule options": {func(c *Config6) {
			c.Rules = []Rule{{Match: RuleMatch{VendorClass: "x"}, Bootfile: "a", Options: Options{150: "10.0.0.1"}}}
		}, "rules[0].options"},
		"rule no bootfile": {func(c *Config6) { c.Rules = []Rule{{Match: RuleMatch{VendorClass: "x"}}} }, "rules[0].bootfile"},
		"rule no match":    {func(c *Config6) { c.Rules = []Rule{{Bootfile: "a"}} }, "rules[0].match"},
	} {
		c := base()
		tc.edit(&c)
		err := c.Validate()
		var ce *cfgerr.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%s: %v, want an error at %s", name, err, tc.key)
		}
	}
	if err := base().Validate(); err != nil {
		t.Errorf("base: %v", err)
	}
	if err := (Config6{}).Validate(); err != nil {
		t.Errorf("zero config (off): %v", err)
	}
	if err := (Config6{Mode: "proxy", Interface: "eth1"}).Validate(); err == nil || !strings.Contains(err.Error(), "proxyDHCPv6") {
		t.Errorf("proxy: %v", err)
	}
}
