package dhcp

import (
	"net/netip"

	"github.com/bootsrv/bootsrv/boot"
)

// bootRequest is what the boot policy looks at, taken from a request.
type bootRequest struct {
	vendorClass string // option 60
	arch        int    // option 93 (first entry), -1 when absent
	userClass   []byte // option 77, raw
	ipxeEncap   bool   // option 175 present: iPXE's encapsulated options
}

// bootReply is the boot information for one client.
type bootReply struct {
	file        string     // file header field and option 67
	nextServer  netip.Addr // siaddr, sname and option 66
	vendorClass string     // option 60 in the reply: "PXEClient" or "HTTPClient"
	pxeVendor   []byte     // option 43 for PXE ROMs
	kind        string     // for logs: bios, efi64, ipxe, http...
	source      string     // the config key that chose file, e.g. dhcp.boot.efi64 or dhcp.hosts[2].bootfile
}

// pxeDiscoveryControl is PXE spec option 43 sub-option 6 = 8: boot the file
// named in this reply, skip boot server discovery (PXE 2.1 §2.4.6). Some
// older PXE ROMs wait for boot server discovery without it.
var pxeDiscoveryControl = []byte{6, 1, 8, 255}

// bootPolicy is the boot policy DHCPv4 and DHCPv6 share (boot.Decide) in
// DHCPv4's terms: the decision, the next server (the host's, else
// boot.next_server, else the server itself) and, for PXE firmware, option
// 43. It is pure, like boot.Decide.
func bootPolicy(conf bootConf, h *host, serverIP netip.Addr, req bootRequest) (bootReply, bool) {
	d, ok := boot.Decide(conf.entries(), h.override(), boot.Request{
		VendorClass: req.vendorClass, Arch: req.arch, UserClass: req.userClass, IPXEEncap: req.ipxeEncap,
	})
	if !ok {
		return bootReply{}, false
	}
	next := conf.nextServer
	if !next.IsValid() {
		next = serverIP
	}
	if h != nil && h.nextServer.IsValid() {
		next = h.nextServer
	}
	reply := bootReply{file: d.File, nextServer: next, vendorClass: d.VendorClass, kind: d.Kind, source: d.Source}
	if d.VendorClass == "PXEClient" {
		reply.pxeVendor = pxeDiscoveryControl
	}
	return reply, true
}

// entries are the boot entries in the shared policy's terms.
func (c bootConf) entries() boot.Entries {
	return boot.Entries{Key: "dhcp.boot", BIOS: c.bios, EFI32: c.efi32, EFI64: c.efi64, ARM64: c.arm64,
		IPXE: c.ipxe, HTTP: c.url, IPXEBuilds: c.ipxeBuilds}
}

// override is the host's boot settings in the shared policy's terms; nil
// for no host.
func (h *host) override() *boot.Override {
	if h == nil {
		return nil
	}
	return &boot.Override{Key: h.key, Bootfile: h.bootfile, IPXE: h.ipxe}
}
