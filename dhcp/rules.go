package dhcp

import (
	"fmt"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bootsrv/bootsrv/boot"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// Rule is a zero-touch provisioning rule: switches, routers and other
// devices that match get a bootfile, a TFTP server and options on top of
// their pool's and host's. Rules are tried in order; the first whose match
// holds applies, to any client (PXE or not), in OFFER and ACK.
type Rule struct {
	// Match says which clients the rule is for; every criterion set must
	// hold, and at least one must be set.
	Match RuleMatch `yaml:"match"`
	// Bootfile sets the file header field (when under 128 bytes) and
	// option 67 (RFC 2132 §9.5). It may be a URL. Zero: not changed.
	Bootfile string `yaml:"bootfile"`
	// TFTPServer sets option 66 (RFC 2132 §9.4), and siaddr when it is an
	// IPv4 address. Zero: not changed.
	TFTPServer string `yaml:"tftp_server"`
	// Options are set last, overriding every other source; see Options.
	Options Options `yaml:"options"`
}

// RuleMatch holds the criteria of a Rule.
type RuleMatch struct {
	// VendorClass is a regular expression (Go RE2 syntax) on option 60,
	// e.g. "^Cisco". Zero: any.
	VendorClass string `yaml:"vendor_class"`
	// MACOUI is a MAC address prefix such as "00:1b:54", or a list of them;
	// the client hardware address must start with one. Zero: any.
	MACOUI StringList `yaml:"mac_oui"`
	// CircuitID is a regular expression on RFC 3046 option 82 sub-option 1
	// (agent circuit ID) set by a relay. Zero: any.
	CircuitID string `yaml:"circuit_id"`
	// RemoteID is a regular expression on option 82 sub-option 2 (agent
	// remote ID). Zero: any.
	RemoteID string `yaml:"remote_id"`
}

// StringList is a YAML string or list of strings.
type StringList []string

// UnmarshalYAML accepts "x" as well as [x, y].
func (l *StringList) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*l = StringList{one}
		return nil
	}
	var many []string
	if err := unmarshal(&many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*l = many
	return nil
}

// rule is a compiled Rule.
type rule struct {
	match                boot.Match // shared with DHCPv6
	bootfile, tftpServer string
	options              []option
}

// ruleRequest is what the rules look at, taken from a request.
type ruleRequest struct {
	vendorClass         string // option 60
	mac                 []byte // chaddr
	circuitID, remoteID []byte // option 82 sub-options 1 and 2; nil when absent
}

// matchRule returns the index of the first rule that matches req, or -1.
// It is pure, like bootPolicy; the criteria are the shared policy's
// (boot.Match).
func matchRule(rules []rule, req ruleRequest) int {
	for i := range rules {
		if rules[i].matches(req) {
			return i
		}
	}
	return -1
}

func (r *rule) matches(req ruleRequest) bool {
	return r.match.Matches(boot.Facts{VendorClass: req.vendorClass, MAC: req.mac, CircuitID: req.circuitID, RemoteID: req.remoteID})
}

func compileRules(rules []Rule) ([]rule, error) {
	out := make([]rule, 0, len(rules))
	for i, r := range rules {
		key := fmt.Sprintf("rules[%d]", i)
		cr := rule{bootfile: r.Bootfile, tftpServer: r.TFTPServer}
		var err error
		if cr.match, err = boot.CompileMatch(key+".match", r.Match.spec()); err != nil {
			return nil, err
		}
		if cr.options, err = compileOptions(key+".options", r.Options); err != nil {
			return nil, err
		}
		for _, o := range cr.options {
			if (o.code == 67 && r.Bootfile != "") || (o.code == 66 && r.TFTPServer != "") {
				return nil, cfgerr.Errorf(fmt.Sprintf("%s.options.%d", key, o.code), "set twice: also by bootfile/tftp_server")
			}
		}
		if len(r.Bootfile) > 255 || len(r.TFTPServer) > 255 {
			return nil, cfgerr.Errorf(key+".bootfile", "bootfile and tftp_server must fit an option (255 bytes)")
		}
		out = append(out, cr)
	}
	return out, nil
}

// spec is the criteria in the shared policy's terms.
func (m RuleMatch) spec() boot.MatchSpec {
	return boot.MatchSpec{VendorClass: m.VendorClass, MACOUI: m.MACOUI, CircuitID: m.CircuitID, RemoteID: m.RemoteID}
}

// ruleRequestOf takes the rule criteria from a request.
func ruleRequestOf(req *dhcpv4.DHCPv4) ruleRequest {
	rr := ruleRequest{vendorClass: req.ClassIdentifier(), mac: req.ClientHWAddr}
	if rai := req.RelayAgentInfo(); rai != nil {
		rr.circuitID = rai.Get(dhcpv4.AgentCircuitIDSubOption)
		rr.remoteID = rai.Get(dhcpv4.AgentRemoteIDSubOption)
	}
	return rr
}

// applyRule puts rule r's settings into resp, over everything else.
func applyRule(resp *dhcpv4.DHCPv4, r *rule) {
	if r.tftpServer != "" {
		resp.UpdateOption(dhcpv4.OptTFTPServerName(r.tftpServer))
		if a, err := netip.ParseAddr(r.tftpServer); err == nil && a.Is4() {
			resp.ServerIPAddr = a.AsSlice()
		}
	}
	if r.bootfile != "" {
		resp.BootFileName = ""
		if len(r.bootfile) < 128 {
			resp.BootFileName = r.bootfile
		}
		resp.UpdateOption(dhcpv4.OptBootFileName(r.bootfile))
	}
	for _, o := range r.options {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(o.code), o.data))
	}
}
