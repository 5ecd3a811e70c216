package boot

import (
	"bytes"
	"strings"
)

// Request is what the policy looks at, taken from a DHCP request.
type Request struct {
	// VendorClass is the vendor class: DHCPv4 option 60, or the data of
	// DHCPv6 option 16 (RFC 8415 §21.16), e.g. "PXEClient:Arch:00007...".
	VendorClass string
	// Arch is the client architecture (DHCPv4 option 93, DHCPv6 option
	// 61; the first entry); -1 when absent.
	Arch int
	// UserClass is the raw user class (DHCPv4 option 77, DHCPv6 option
	// 15): "iPXE" anywhere in it marks an iPXE client.
	UserClass []byte
	// IPXEEncap is true when iPXE's encapsulated options (DHCPv4 option
	// 175) are present.
	IPXEEncap bool
}

// Entries are the configured boot entries of one DHCP section.
type Entries struct {
	// Key is the config key of the section's boot entries, e.g.
	// "dhcp.boot"; a Decision's Source is Key + ".efi64" and so on.
	Key string
	// Bootfiles by architecture, for PXE firmware.
	BIOS, EFI32, EFI64, ARM64 string
	// IPXE is what clients already running iPXE get (a name or a URL).
	IPXE string
	// HTTP is the URL for UEFI HTTP boot clients.
	HTTP string
	// IPXEBuilds are bootfiles that are iPXE builds: an iPXE client never
	// gets one.
	IPXEBuilds map[string]bool
}

// File is the PXE bootfile configured for arch, "" for none.
func (e Entries) File(arch int) string {
	switch arch {
	case ArchBIOS:
		return e.BIOS
	case ArchEFI32:
		return e.EFI32
	case ArchEFI64, ArchEFIBC:
		return e.EFI64
	case ArchARM64:
		return e.ARM64
	}
	return ""
}

// Override is a reservation's own boot settings.
type Override struct {
	// Key is where the reservation is configured, e.g. "dhcp.hosts[2]".
	Key string
	// Bootfile replaces the architecture's bootfile; IPXE replaces
	// Entries.IPXE. Zero: not replaced.
	Bootfile, IPXE string
}

// Decision is what the client boots.
type Decision struct {
	// File is the bootfile: a name in the image store or a URL.
	File string
	// Kind is for logs: bios, efi64, ipxe, http, archN.
	Kind string
	// VendorClass is the vendor class the reply carries: "PXEClient" for
	// PXE firmware, "HTTPClient" for UEFI HTTP boot (UEFI 2.5 §24.7: the
	// reply must name it), "" for an iPXE script.
	VendorClass string
	// Source is the config key that chose File, e.g. dhcp.boot.efi64 or
	// dhcp.hosts[2].bootfile.
	Source string
}

// Decide says what a client boots. It is pure: the same entries, override
// and request give the same decision. ok is false when the client gets no
// boot information: it is no PXE, HTTP boot or iPXE client, or nothing is
// configured for its architecture.
//
// A client already running iPXE (a virtual machine's ROM, or iPXE
// chainloaded) gets the ipxe entry, the override's or else the global
// one. Without one it gets what PXE firmware of its architecture gets
// (pxelinux, GRUB...), as from dnsmasq, unless that file is itself an
// iPXE build (Entries.IPXEBuilds): iPXE would load iPXE, which asks
// again, a chainload loop, so then it gets nothing.
func Decide(e Entries, o *Override, r Request) (Decision, bool) {
	isIPXE := r.IPXEEncap || bytes.Contains(r.UserClass, []byte("iPXE"))
	isPXE := strings.HasPrefix(r.VendorClass, "PXEClient")
	isHTTP := strings.HasPrefix(r.VendorClass, "HTTPClient")
	if !isIPXE && !isPXE && !isHTTP {
		return Decision{}, false
	}
	arch := r.Arch
	if arch < 0 {
		arch = ArchFromVendorClass(r.VendorClass)
	}
	script, scriptKey := e.IPXE, e.Key+".ipxe"
	if o != nil && o.IPXE != "" {
		script, scriptKey = o.IPXE, o.Key+".ipxe"
	}
	var d Decision
	switch {
	case isIPXE && script != "":
		d.File, d.Kind, d.Source = script, "ipxe", scriptKey
	case isHTTP:
		// UEFI HTTP boot (UEFI 2.5 §24.7): the bootfile is a URL and the
		// reply must carry vendor class HTTPClient.
		d.File, d.Kind, d.VendorClass, d.Source = e.HTTP, "http", "HTTPClient", e.Key+".http"
	default:
		d.Kind, d.VendorClass = ArchName(arch), "PXEClient"
		d.File, d.Source = e.File(arch), e.Key+"."+ArchName(arch)
		if o != nil && o.Bootfile != "" {
			d.File, d.Source = o.Bootfile, o.Key+".bootfile"
		}
		if isIPXE {
			if e.IPXEBuilds[d.File] {
				return Decision{}, false
			}
			d.Kind = "ipxe"
		}
	}
	if d.File == "" {
		return Decision{}, false
	}
	return d, true
}
