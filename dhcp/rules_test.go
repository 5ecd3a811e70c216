package dhcp

import (
	"net"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const rulesYAML = `
- match: {vendor_class: "^Cisco"}
  bootfile: network-confg
  options: {150: [10.0.0.1]}
- match: {vendor_class: "^Arista"}
  bootfile: http://10.0.0.1:8080/images/ztp/arista-bootstrap
- match: {vendor_class: "^Juniper"}
  options: {43: "hex:00:09:6a:75:6e:6f:73:2e:74:67:7a:01:07:73:77:2e:63:6f:6e:66"}
- match: {mac_oui: "00:1b:54"}
  tftp_server: 10.0.0.9
- match: {mac_oui: ["52-54-00-aa", "0050.56"], circuit_id: "^eth1/[0-9]+$"}
  bootfile: rack.cfg
- match: {remote_id: "^sw-core"}
  bootfile: core.cfg
`

func compileTestRules(t *testing.T) []rule {
	t.Helper()
	var rs []Rule
	if err := yaml.UnmarshalWithOptions([]byte(rulesYAML), &rs, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if len(rs[4].Match.MACOUI) != 2 || rs[3].Match.MACOUI[0] != "00:1b:54" {
		t.Fatalf("mac_oui decoded as %q and %q", rs[3].Match.MACOUI, rs[4].Match.MACOUI)
	}
	cr, err := compileRules(rs)
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

func TestMatchRule(t *testing.T) {
	rules := compileTestRules(t)
	hw := func(s string) []byte { return mac(s) }
	for name, tc := range map[string]struct {
		req  ruleRequest
		want int
	}{
		"cisco":                {ruleRequest{vendorClass: "Cisco-C9300", mac: hw("aa:00:00:00:00:01")}, 0},
		"cisco anchored":       {ruleRequest{vendorClass: "ciscoish Cisco", mac: hw("aa:00:00:00:00:01")}, -1},
		"arista":               {ruleRequest{vendorClass: "Arista;DCS-7050;", mac: hw("aa:00:00:00:00:01")}, 1},
		"juniper":              {ruleRequest{vendorClass: "Juniper-ex4300-48t", mac: hw("aa:00:00:00:00:01")}, 2},
		"no vendor class":      {ruleRequest{mac: hw("aa:00:00:00:00:01")}, -1},
		"udhcp":                {ruleRequest{vendorClass: "udhcp 1.36.1", mac: hw("aa:00:00:00:00:01")}, -1},
		"oui":                  {ruleRequest{mac: hw("00:1b:54:12:34:56")}, 3},
		"oui other":            {ruleRequest{mac: hw("00:1b:55:12:34:56")}, -1},
		"first match wins":     {ruleRequest{vendorClass: "Cisco", mac: hw("00:1b:54:12:34:56")}, 0},
		"oui list and circuit": {ruleRequest{mac: hw("00:50:56:01:02:03"), circuitID: []byte("eth1/12")}, 4},
		"oui list 4 bytes":     {ruleRequest{mac: hw("52:54:00:aa:02:03"), circuitID: []byte("eth1/1")}, 4},
		"oui without circuit":  {ruleRequest{mac: hw("00:50:56:01:02:03")}, -1},
		"circuit mismatch":     {ruleRequest{mac: hw("00:50:56:01:02:03"), circuitID: []byte("eth2/12")}, -1},
		"remote id":            {ruleRequest{mac: hw("aa:00:00:00:00:01"), remoteID: []byte("sw-core-1")}, 5},
		"remote id absent":     {ruleRequest{mac: hw("aa:00:00:00:00:01"), circuitID: []byte("sw-core-1")}, -1},
	} {
		if got := matchRule(rules, tc.req); got != tc.want {
			t.Errorf("%s: rule %d, want %d", name, got, tc.want)
		}
	}
}

func TestRuleValidateKeys(t *testing.T) {
	base := func() Config {
		return Config{Mode: "server", Interface: "eth1", Pools: []Pool{{Subnet: "10.0.0.0/24", Range: "10.0.0.10-10.0.0.20"}},
			Rules: []Rule{{Match: RuleMatch{VendorClass: "^Cisco"}, Bootfile: "network-confg"}}}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	for name, tc := range map[string]struct {
		edit    func(*Config)
		key     string
		message string
	}{
		"empty match":  {func(c *Config) { c.Rules[0].Match = RuleMatch{} }, "rules[0].match", "at least one"},
		"bad vc regex": {func(c *Config) { c.Rules[0].Match.VendorClass = "^Cisco(" }, "rules[0].match.vendor_class", "regular expression"},
		"bad circuit": {func(c *Config) { c.Rules = append(c.Rules, Rule{Match: RuleMatch{CircuitID: "[z-a]"}}) },
			"rules[1].match.circuit_id", "regular expression"},
		"bad remote":  {func(c *Config) { c.Rules[0].Match.RemoteID = "*" }, "rules[0].match.remote_id", "regular expression"},
		"bad oui":     {func(c *Config) { c.Rules[0].Match.MACOUI = StringList{"00:1b:54", "xyz"} }, "rules[0].match.mac_oui[1]", "prefix"},
		"long oui":    {func(c *Config) { c.Rules[0].Match.MACOUI = StringList{"00:11:22:33:44:55:66"} }, "rules[0].match.mac_oui[0]", "prefix"},
		"bad option":  {func(c *Config) { c.Rules[0].Options = Options{150: "not-an-ip"} }, "rules[0].options.150", ""},
		"managed opt": {func(c *Config) { c.Rules[0].Options = Options{54: "10.0.0.1"} }, "rules[0].options.54", "set by the server"},
		"67 twice":    {func(c *Config) { c.Rules[0].Options = Options{67: "x"} }, "rules[0].options.67", "set twice"},
	} {
		c := base()
		tc.edit(&c)
		checkKeyError(t, name, c.Validate(), tc.key, tc.message)
	}
}

// TestRuleReply: a matching client gets the rule's settings in OFFER and
// ACK on top of its pool's options; other clients do not; PXE boot replies
// are unchanged for clients no rule matches.
func TestRuleReply(t *testing.T) {
	cfg := testConfig(t)
	cfg.Rules = []Rule{
		{Match: RuleMatch{VendorClass: "^Cisco"}, Bootfile: "network-confg", Options: Options{150: []any{"10.0.0.5"}}},
		{Match: RuleMatch{MACOUI: StringList{"00:1b:54"}}, TFTPServer: "10.0.0.9", Options: Options{224: "u16:9"}},
	}
	ts := newTestServer(t, cfg)
	cisco := dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Cisco-C9300"))
	o, _ := ts.exchange(discover("52:54:00:c1:00:01", cisco))
	ack := ts.dora("52:54:00:c1:00:01", cisco)
	for _, m := range []*dhcpv4.DHCPv4{o, ack} {
		if m.BootFileName != "network-confg" || m.BootFileNameOption() != "network-confg" ||
			net.IP(m.Options.Get(dhcpv4.GenericOptionCode(150))).String() != "10.0.0.5" ||
			len(m.Options.Get(dhcpv4.GenericOptionCode(224))) != 2 || m.Router()[0].String() != "10.0.0.1" {
			t.Fatalf("cisco %s: %s", m.MessageType(), m.Summary())
		}
	}
	plain := ts.dora("52:54:00:c1:00:02")
	if plain.BootFileName != "" || plain.Options.Has(dhcpv4.OptionBootfileName) || plain.Options.Has(dhcpv4.GenericOptionCode(150)) {
		t.Fatalf("client without vendor class got rule settings: %s", plain.Summary())
	}
	// OUI rule overrides the pool's option 224 and sets 66 and siaddr.
	oui := ts.dora("00:1b:54:00:00:01")
	if oui.TFTPServerName() != "10.0.0.9" || oui.ServerIPAddr.String() != "10.0.0.9" ||
		string(oui.Options.Get(dhcpv4.GenericOptionCode(224))) != "\x00\x09" {
		t.Fatalf("oui rule: %s", oui.Summary())
	}
	if got := testutil.ToFloat64(ts.m.rules.WithLabelValues("0")); got != 3 {
		t.Errorf("rule 0 matches = %v, want 3 (offer, offer, ack)", got)
	}
}

// TestRuleRelayCircuitID matches on option 82 sub-option 1 set by a relay.
func TestRuleRelayCircuitID(t *testing.T) {
	cfg := testConfig(t)
	cfg.Rules = []Rule{{Match: RuleMatch{CircuitID: "^port7$", RemoteID: "^sw1$"}, Bootfile: "port7.cfg"}}
	ts := newTestServer(t, cfg)
	relayed := func(hw, circuit string) *dhcpv4.DHCPv4 {
		rai := dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(1), []byte(circuit)),
			dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(2), []byte("sw1")))
		o, _ := ts.exchange(discover(hw, dhcpv4.WithOption(rai), dhcpv4.WithRelay(net.IPv4(10, 1, 0, 1))))
		if o == nil {
			t.Fatal("no relayed offer")
		}
		return o
	}
	if o := relayed("52:54:00:d0:00:01", "port7"); o.BootFileNameOption() != "port7.cfg" {
		t.Fatalf("port7: %s", o.Summary())
	}
	if o := relayed("52:54:00:d0:00:02", "port8"); o.BootFileNameOption() != "" {
		t.Fatalf("port8: %s", o.Summary())
	}
	// Not relayed: no option 82, so circuit_id cannot match.
	if o, _ := ts.exchange(discover("52:54:00:d0:00:03")); o == nil || o.BootFileNameOption() != "" {
		t.Fatalf("local: %v", o)
	}
}
