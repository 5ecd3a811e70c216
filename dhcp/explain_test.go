package dhcp

import (
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestExplain: what the server would answer, and why, for the kinds of
// machines it serves; explaining holds no offer and counts nothing.
func TestExplain(t *testing.T) {
	cfg := testConfig(t)
	cfg.Rules = []Rule{
		{Match: RuleMatch{VendorClass: "^Cisco"}, Bootfile: "network-confg"},
		{Match: RuleMatch{VendorClass: "^Arista"}, Bootfile: "ztp/arista"},
	}
	ts := newTestServer(t, cfg)
	tests := map[string]struct {
		q                               ExplainQuery
		reply, addr, why, file, decided string
		step                            string
	}{
		"uefi pxe": {q: ExplainQuery{MAC: mac("52:54:00:ee:00:01"), Arch: 7}, reply: "ack", why: "a free address of pool 10.0.0.0/24",
			file: "snponly.efi", decided: "dhcp.boot.efi64", step: "client: PXE firmware (vendor class PXEClient)"},
		"ipxe": {q: ExplainQuery{MAC: mac("52:54:00:ee:00:02"), Arch: 0, UserClass: "iPXE"}, reply: "ack",
			file: "boot.ipxe", decided: "dhcp.boot.ipxe", step: "client: iPXE (user class iPXE)"},
		"reservation": {q: ExplainQuery{MAC: mac("52:54:00:00:00:50"), Arch: -1}, reply: "ack", addr: "10.0.0.50",
			why: "reservation dhcp.hosts[0]", step: "reservation: dhcp.hosts[0], no boot override"},
		"ztp rule": {q: ExplainQuery{MAC: mac("52:54:00:ee:00:03"), Arch: -1, VendorClass: "Arista;DCS-7050"}, reply: "ack",
			file: "ztp/arista", decided: "dhcp.rules[1]", step: "dhcp.rules[1]: matches, and is the first that does: it applies"},
		"relayed": {q: ExplainQuery{MAC: mac("52:54:00:ee:00:04"), Arch: -1, GIAddr: netip.MustParseAddr("10.1.0.1")}, reply: "ack",
			why: "a free address of pool 10.1.0.0/24"},
		"no pool": {q: ExplainQuery{MAC: mac("52:54:00:ee:00:05"), Arch: -1, GIAddr: netip.MustParseAddr("10.9.0.1")}, reply: "none"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ex := ts.Explain(tc.q)
			if ex.Reply != tc.reply || (tc.addr != "" && ex.Address != tc.addr) || (tc.why != "" && ex.AddressWhy != tc.why) ||
				ex.Bootfile != tc.file || ex.DecidedBy != tc.decided {
				t.Errorf("explain %+v", ex)
			}
			if tc.step != "" && !slices.Contains(ex.Steps, tc.step) {
				t.Errorf("steps %q lack %q", ex.Steps, tc.step)
			}
			if tc.reply == "ack" {
				var codes []int
				for _, o := range ex.Options {
					codes = append(codes, o.Code)
				}
				if !slices.Contains(codes, 53) || !slices.Contains(codes, 54) || !slices.Contains(codes, 51) {
					t.Errorf("options %v lack the message type, server id or lease time", codes)
				}
			}
		})
	}
	held, _ := ts.table.heldOffers()
	for _, n := range held {
		if n != 0 {
			t.Errorf("explaining held offers: %v", held)
		}
	}
	if got := testutil.ToFloat64(ts.m.rules.WithLabelValues("1")); got != 0 {
		t.Errorf("explaining counted a rule match: %v", got)
	}
	// The same machine explained twice gets the same answer: no hold,
	// no moving cursor.
	a, b := ts.Explain(tests["uefi pxe"].q), ts.Explain(tests["uefi pxe"].q)
	if a.Address != b.Address {
		t.Errorf("explain moved on: %s then %s", a.Address, b.Address)
	}
}

// TestExplainerMatchesServer: an explainer built from the config and the
// leases of a running server answers as the server does: the ACK the
// client got has the options explain lists.
func TestExplainerMatchesServer(t *testing.T) {
	cfg := testConfig(t)
	ts := newTestServer(t, cfg)
	ack := ts.dora("52:54:00:ee:00:10")
	ex, note, err := NewExplainer(cfg, ts.Leases())
	if err != nil || note != "" {
		t.Fatal(err, note)
	}
	e := ex.Explain(ExplainQuery{MAC: mac("52:54:00:ee:00:10"), Arch: -1})
	if e.Address != ack.YourIPAddr.String() || e.AddressWhy != "its current lease" {
		t.Fatalf("explainer: %+v, server acked %s", e, ack.YourIPAddr)
	}
	for _, o := range e.Options {
		if o.Code == 61 || o.Code == 82 {
			continue
		}
		if got := ack.Options.Get(optionCode(o.Code)); hexOf(got) != o.Hex {
			t.Errorf("option %d (%s): explain %s, the ACK %x", o.Code, o.Name, o.Hex, got)
		}
	}
	if len(e.Options) != len(ack.Options) {
		t.Errorf("explain lists %d options, the ACK has %d", len(e.Options), len(ack.Options))
	}
	if _, _, err := NewExplainer(Config{}, nil); err == nil || !strings.Contains(err.Error(), "off") {
		t.Errorf("explainer of a config without DHCP: %v", err)
	}
}

func optionCode(c int) dhcpv4.OptionCode { return dhcpv4.GenericOptionCode(c) }

func hexOf(b []byte) string { return hex.EncodeToString(b) }
