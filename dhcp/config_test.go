package dhcp

import (
	"errors"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

const designYAML = `
mode: server
interface: eth1
server_ip: 10.0.0.1
lease_file: /var/lib/bootsrv/leases.db
authoritative: true
pools:
  - subnet: 10.0.0.0/24
    range: 10.0.0.100-10.0.0.200
    router: 10.0.0.1
    dns: [10.0.0.1]
    lease_time: 1h
    options: {42: 10.0.0.1, 66: tftp.lab, 26: 1400, 224: "u16:8080", 43: "hex:01:02:ff", 150: [10.0.0.1, 10.0.0.2]}
hosts:
  - {mac: "52:54:00:12:34:56", ip: 10.0.0.50, hostname: node1}
boot:
  next_server: 10.0.0.1
  bios: undionly.kpxe
  efi64: snponly.efi
  arm64: ipxe-arm64.efi
  ipxe: boot.ipxe
  http: http://10.0.0.1:8080/images/ipxe.efi
`

func TestConfigDecodesDesignExample(t *testing.T) {
	var c Config
	if err := yaml.UnmarshalWithOptions([]byte(designYAML), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if !c.Enabled() {
		t.Fatal("design example should be enabled")
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Pools[0].LeaseTime != time.Hour || c.Hosts[0].Hostname != "node1" || c.Boot.HTTP == "" {
		t.Fatalf("decoded %+v", c)
	}
	cc, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint8]string{}
	for _, o := range cc.pools[0].options {
		got[o.code] = string(o.data)
	}
	want := map[uint8]string{42: "\x0a\x00\x00\x01", 66: "tftp.lab", 26: "\x05\x78", 224: "\x1f\x90", 43: "\x01\x02\xff", 150: "\x0a\x00\x00\x01\x0a\x00\x00\x02"}
	for code, w := range want {
		if got[code] != w {
			t.Errorf("option %d = %x, want %x", code, got[code], w)
		}
	}
}

func TestEnabled(t *testing.T) {
	for name, tc := range map[string]struct {
		c    Config
		want bool
	}{
		"zero":           {Config{}, false},
		"mode only":      {Config{Mode: "server"}, false},
		"interface only": {Config{Interface: "eth1"}, false},
		"both":           {Config{Mode: "server", Interface: "eth1"}, true},
	} {
		if got := tc.c.Enabled(); got != tc.want {
			t.Errorf("%s: Enabled() = %v", name, got)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}

func TestValidateKeys(t *testing.T) {
	base := func() Config {
		return Config{Mode: "server", Interface: "eth1", Pools: []Pool{{Subnet: "10.0.0.0/24", Range: "10.0.0.10-10.0.0.20"}}}
	}
	for name, tc := range map[string]struct {
		edit    func(*Config)
		key     string
		message string
	}{
		"proxy pools":   {func(c *Config) { c.Mode = "proxy" }, "pools", "proxy mode hands out no addresses"},
		"bad mode":      {func(c *Config) { c.Mode = "relay" }, "mode", "not a mode"},
		"no interface":  {func(c *Config) { c.Interface = "" }, "interface", "required"},
		"no pools":      {func(c *Config) { c.Pools = nil }, "pools", "at least one"},
		"bad range":     {func(c *Config) { c.Pools[0].Range = "10.0.0.10" }, "pools[0].range", "not a range"},
		"range outside": {func(c *Config) { c.Pools[0].Range = "10.0.0.10-10.0.1.20" }, "pools[0].range", "inside"},
		"bad subnet":    {func(c *Config) { c.Pools[0].Subnet = "10.0.0.0" }, "pools[0].subnet", "subnet"},
		"bad dns":       {func(c *Config) { c.Pools[0].DNS = []string{"10.0.0.1", "x"} }, "pools[0].dns[1]", "IPv4"},
		"overlap": {func(c *Config) { c.Pools = append(c.Pools, Pool{Subnet: "10.0.0.128/25"}) },
			"pools[1].subnet", "overlaps"},
		"managed option": {func(c *Config) { c.Pools[0].Options = Options{53: "1"} }, "pools[0].options.53", "set by the server"},
		"unknown int":    {func(c *Config) { c.Pools[0].Options = Options{200: 5} }, "pools[0].options.200", "u32:5"},
		"u8 range":       {func(c *Config) { c.Pools[0].Options = Options{19: 300} }, "pools[0].options.19", "out of range"},
		"host mac":       {func(c *Config) { c.Hosts = []Host{{MAC: "zz", IP: "10.0.0.5"}} }, "hosts[0].mac", "MAC"},
		"host ip":        {func(c *Config) { c.Hosts = []Host{{MAC: "52:54:00:00:00:01", IP: "10.9.0.5"}} }, "hosts[0].ip", "no pool"},
		"dup host ip": {func(c *Config) {
			c.Hosts = []Host{{MAC: "52:54:00:00:00:01", IP: "10.0.0.5"}, {MAC: "52:54:00:00:00:02", IP: "10.0.0.5"}}
		}, "hosts[1].ip", "also reserved"},
		"bad http":  {func(c *Config) { c.Boot.HTTP = "tftp://x" }, "boot.http", "URL"},
		"no mode":   {func(c *Config) { c.Mode = "" }, "mode", "mode is not set"},
		"lease min": {func(c *Config) { c.Pools[0].LeaseTime = time.Second }, "pools[0].lease_time", "between"},
	} {
		c := base()
		tc.edit(&c)
		checkKeyError(t, name, c.Validate(), tc.key, tc.message)
	}
}

// checkKeyError checks that a validation error names key (a *cfgerr.Error) and says
// message.
func checkKeyError(t *testing.T, name string, err error, key, message string) {
	t.Helper()
	var ke *cfgerr.Error
	if !errors.As(err, &ke) {
		t.Errorf("%s: error %v names no key", name, err)
		return
	}
	if ke.Key != key || !strings.Contains(err.Error(), message) {
		t.Errorf("%s: got key %q error %q; want key %q containing %q", name, ke.Key, err, key, message)
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{ServerIP: "10.0.0.1", Pools: []Pool{{}}}.WithDefaults()
	if c.Port != 67 || c.LeaseFile != DefaultLeaseFile || c.Pools[0].LeaseTime != time.Hour ||
		c.Boot.NextServer != "10.0.0.1" || c.MaxHandlers != 256 || c.DeclineTime != 10*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
}
