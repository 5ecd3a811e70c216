package dhcp

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// RFC 4578 §2.1 client system architecture types (option 93) we map.
const (
	archBIOS      = 0
	archEFI32     = 6
	archEFI64     = 7
	archEFIBC     = 9 // EFI byte code; in practice x86-64 firmware
	archARM64     = 11
	archEFI32HTTP = 15
	archEFI64HTTP = 16
	archARM64HTTP = 19
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

// bootPolicy decides what a client boots. It is pure: the same request,
// host and configuration give the same reply. ok is false when the client
// gets no boot information: it is no PXE, HTTP boot or iPXE client, or
// nothing is configured for its architecture.
//
// A client already running iPXE (a virtual machine's ROM, or iPXE
// chainloaded) gets the ipxe entry, the host's or else the global one.
// Without one it gets what PXE firmware of its architecture gets (pxelinux,
// GRUB...), as from dnsmasq, unless that file is itself an iPXE build
// (conf.ipxeBuilds, found in the store at load): iPXE would load iPXE,
// which asks again, a chainload loop, so then it gets nothing.
func bootPolicy(conf bootConf, h *host, serverIP netip.Addr, req bootRequest) (bootReply, bool) {
	isIPXE := req.ipxeEncap || bytes.Contains(req.userClass, []byte("iPXE"))
	isPXE := strings.HasPrefix(req.vendorClass, "PXEClient")
	isHTTP := strings.HasPrefix(req.vendorClass, "HTTPClient")
	if !isIPXE && !isPXE && !isHTTP {
		return bootReply{}, false
	}
	next := conf.nextServer
	if !next.IsValid() {
		next = serverIP
	}
	if h != nil && h.nextServer.IsValid() {
		next = h.nextServer
	}
	reply := bootReply{nextServer: next}
	arch := req.arch
	if arch < 0 {
		arch = archFromVendorClass(req.vendorClass)
	}
	script, scriptKey := conf.ipxe, "dhcp.boot.ipxe"
	if h != nil && h.ipxe != "" {
		script, scriptKey = h.ipxe, h.key+".ipxe"
	}
	switch {
	case isIPXE && script != "":
		reply.file, reply.kind, reply.source = script, "ipxe", scriptKey
	case isHTTP:
		// UEFI HTTP boot (UEFI 2.5 §24.7): the bootfile is a URL and the
		// reply must carry vendor class HTTPClient.
		reply.file, reply.kind, reply.vendorClass, reply.source = conf.url, "http", "HTTPClient", "dhcp.boot.http"
	default:
		reply.kind, reply.vendorClass, reply.pxeVendor = archName(arch), "PXEClient", pxeDiscoveryControl
		reply.file, reply.source = firmwareFile(conf, arch), "dhcp.boot."+archName(arch)
		if h != nil && h.bootfile != "" {
			reply.file, reply.source = h.bootfile, h.key+".bootfile"
		}
		if isIPXE {
			if conf.ipxeBuilds[reply.file] {
				return bootReply{}, false
			}
			reply.kind = "ipxe"
		}
	}
	if reply.file == "" {
		return bootReply{}, false
	}
	return reply, true
}

func firmwareFile(conf bootConf, arch int) string {
	switch arch {
	case archBIOS:
		return conf.bios
	case archEFI32:
		return conf.efi32
	case archEFI64, archEFIBC:
		return conf.efi64
	case archARM64:
		return conf.arm64
	}
	return ""
}

func archName(arch int) string {
	switch arch {
	case archBIOS:
		return "bios"
	case archEFI32:
		return "efi32"
	case archEFI64, archEFIBC:
		return "efi64"
	case archARM64:
		return "arm64"
	}
	return "arch" + strconv.Itoa(arch)
}

// archFromVendorClass reads "PXEClient:Arch:00007:UNDI:003016" (PXE 2.1
// §2.2), for clients that send no option 93. Default BIOS, as for the
// oldest PXE ROMs.
func archFromVendorClass(vc string) int {
	_, rest, ok := strings.Cut(vc, ":Arch:")
	if !ok || len(rest) < 5 {
		return archBIOS
	}
	n, err := strconv.Atoi(rest[:5])
	if err != nil {
		return archBIOS
	}
	return n
}
