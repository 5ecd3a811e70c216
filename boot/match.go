package boot

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// MatchSpec is a zero-touch provisioning rule's criteria as configured.
type MatchSpec struct {
	VendorClass string   // regular expression on the vendor class
	MACOUI      []string // MAC address prefixes, any of which
	CircuitID   string   // regular expression on the relay's circuit id
	RemoteID    string   // regular expression on the relay's remote id
}

// Match is compiled criteria: every one set must hold.
type Match struct {
	vendorClass, circuitID, remoteID *regexp.Regexp // nil: any
	ouis                             [][]byte       // nil: any
}

// Facts are what the criteria look at, taken from a request.
type Facts struct {
	VendorClass string // DHCPv4 option 60; DHCPv6 option 16's data
	MAC         []byte // chaddr; for DHCPv6 from the DUID or option 79
	// CircuitID and RemoteID are what a relay added: DHCPv4 option 82
	// sub-options 1 and 2; DHCPv6 interface-id (option 18) and remote-id
	// (option 37, RFC 4649). Nil when absent.
	CircuitID, RemoteID []byte
}

// Matches reports whether f meets every criterion of m.
func (m *Match) Matches(f Facts) bool {
	if m.vendorClass != nil && !m.vendorClass.MatchString(f.VendorClass) {
		return false
	}
	if m.circuitID != nil && (f.CircuitID == nil || !m.circuitID.Match(f.CircuitID)) {
		return false
	}
	if m.remoteID != nil && (f.RemoteID == nil || !m.remoteID.Match(f.RemoteID)) {
		return false
	}
	if m.ouis == nil {
		return true
	}
	for _, p := range m.ouis {
		if bytes.HasPrefix(f.MAC, p) {
			return true
		}
	}
	return false
}

// CompileMatch checks and compiles criteria configured at key (e.g.
// "rules[0].match"). Errors are *cfgerr.Error naming key or a key below
// it.
func CompileMatch(key string, s MatchSpec) (Match, error) {
	if s.VendorClass == "" && len(s.MACOUI) == 0 && s.CircuitID == "" && s.RemoteID == "" {
		return Match{}, cfgerr.Errorf(key, "needs at least one of vendor_class, mac_oui, circuit_id, remote_id")
	}
	var m Match
	for _, re := range []struct {
		name, expr string
		dst        **regexp.Regexp
	}{
		{"vendor_class", s.VendorClass, &m.vendorClass},
		{"circuit_id", s.CircuitID, &m.circuitID},
		{"remote_id", s.RemoteID, &m.remoteID},
	} {
		if re.expr == "" {
			continue
		}
		c, err := regexp.Compile(re.expr)
		if err != nil {
			return Match{}, cfgerr.Errorf(key+"."+re.name, "not a regular expression: %v", err)
		}
		*re.dst = c
	}
	for j, s := range s.MACOUI {
		p, err := parseMACPrefix(s)
		if err != nil {
			return Match{}, cfgerr.New(fmt.Sprintf("%s.mac_oui[%d]", key, j), err)
		}
		m.ouis = append(m.ouis, p)
	}
	return m, nil
}

// parseMACPrefix reads "00:1b:54", "00-1B-54" or "001b54": 1 to 6 bytes.
func parseMACPrefix(s string) ([]byte, error) {
	h := strings.NewReplacer(":", "", "-", "", ".", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 || len(b) > 6 {
		return nil, fmt.Errorf("%q is not a MAC address prefix like 00:1b:54", s)
	}
	return b, nil
}
