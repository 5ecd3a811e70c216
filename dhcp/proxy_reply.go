package dhcp

import (
	"bytes"
	"slices"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// PXE vendor sub-options in option 43 (PXE 2.1 §2, "PXE vendor options").
const (
	pxeSubDiscoveryControl = 6  // PXE_DISCOVERY_CONTROL
	pxeSubBootItem         = 71 // PXE_BOOT_ITEM: type (2 bytes), layer (2 bytes)
	pxeSubEnd              = 255
)

// proxyReply builds a proxy OFFER or ACK for a PXE or HTTP boot client: no
// address (yiaddr stays 0.0.0.0), no lease time, no network settings, only
// boot information. It returns the client kind for metrics and logs and
// the config key that decided the bootfile, or a drop reason when there is
// nothing to boot.
func (s *Server) proxyReply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType) (resp *dhcpv4.DHCPv4, kind, decided, why string) {
	_, h := s.client(req)
	resp = s.newReply(req, mt)
	if mt == dhcpv4.MessageTypeAck {
		resp.ClientIPAddr = req.ClientIPAddr // RFC 2131 Table 3
	}
	b := s.addBoot(req, resp, h)
	kind, decided = b.kind, b.source
	if !slices.Contains(proxyClientKinds, kind) && kind != "" {
		kind = "other"
	}
	if h != nil {
		for _, o := range h.options {
			resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(o.code), o.data))
		}
	}
	if i := matchRule(s.comp().rules, ruleRequestOf(req)); i >= 0 {
		applyRule(resp, &s.comp().rules[i])
		decided = ruleKey(i)
		if kind == "" {
			kind = "rule"
		}
	}
	if !resp.Options.Has(dhcpv4.OptionBootfileName) {
		return nil, "", "", "no_bootfile"
	}
	// A bootfile from a rule alone still needs a TFTP server: PXE ROMs
	// take siaddr (PXE 2.1 §2), with the policy's default.
	if resp.ServerIPAddr == nil || resp.ServerIPAddr.IsUnspecified() {
		next := s.comp().boot.nextServer
		if !next.IsValid() {
			next = s.serverIP
		}
		resp.ServerIPAddr = next.AsSlice()
	}
	// A proxy reply without option 60 is not recognised as one: iPXE and
	// EDK2 both test for "PXEClient" (and EDK2's HTTP boot for
	// "HTTPClient"). The policy leaves it out for iPXE clients that get
	// their ipxe entry (iPXE clients without one get a PXE reply).
	http := strings.HasPrefix(req.ClassIdentifier(), "HTTPClient")
	if !resp.Options.Has(dhcpv4.OptionClassIdentifier) {
		vc := "PXEClient"
		if http {
			vc = "HTTPClient"
		}
		resp.UpdateOption(dhcpv4.OptClassIdentifier(vc))
	}
	// Option 43 tells a PXE ROM to boot the file now rather than look for
	// boot servers; a host or rule that set its own 43 wins.
	if v := resp.Options.Get(dhcpv4.OptionVendorSpecificInformation); !http && (v == nil || bytes.Equal(v, pxeDiscoveryControl)) {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, pxeVendorOptions(req)))
	}
	return resp, kind, decided, ""
}

// pxeVendorOptions is option 43 for a proxy reply: PXE_DISCOVERY_CONTROL =
// 8 (bit 3: a bootfile is in this reply, download it, skip boot server
// discovery and menus), then PXE_BOOT_ITEM echoed when the request carried
// one (a boot server request must get its item back), then END.
func pxeVendorOptions(req *dhcpv4.DHCPv4) []byte {
	item := pxeBootItem(req.Options.Get(dhcpv4.OptionVendorSpecificInformation))
	if item == nil {
		return pxeDiscoveryControl
	}
	out := []byte{pxeSubDiscoveryControl, 1, 8, pxeSubBootItem, 4}
	out = append(out, item...)
	return append(out, pxeSubEnd)
}

// pxeBootItem finds PXE_BOOT_ITEM (4 bytes) in the PXE vendor options of a
// request (option 43, encapsulated as code, length, value; 0 is a pad and
// 255 the end, RFC 2132 §8.4). It returns nil when absent or malformed.
func pxeBootItem(b []byte) []byte {
	for len(b) > 0 {
		switch b[0] {
		case pxeSubEnd:
			return nil
		case 0:
			b = b[1:]
			continue
		}
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return nil
		}
		if b[0] == pxeSubBootItem && b[1] == 4 {
			return slices.Clone(b[2:6])
		}
		b = b[2+int(b[1]):]
	}
	return nil
}
