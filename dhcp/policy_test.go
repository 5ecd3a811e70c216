package dhcp

import (
	"net/netip"
	"testing"
)

func TestBootPolicy(t *testing.T) {
	conf := bootConf{bios: "undionly.kpxe", efi64: "snponly.efi", arm64: "ipxe-arm64.efi",
		ipxe: "boot.ipxe", url: "http://10.0.0.1:8080/images/ipxe.efi"}
	srv := netip.MustParseAddr("10.0.0.1")
	other := netip.MustParseAddr("10.0.0.9")
	node := &host{bootfile: "special.kpxe", ipxe: "http://10.0.0.1/node.ipxe", nextServer: other}
	// A classic pxelinux/GRUB setup with no ipxe key, as users bring from
	// dnsmasq; and one whose bootfiles are iPXE builds, found at load.
	classic := bootConf{bios: "pxelinux.0", efi64: "grubnetx64.efi", arm64: "grubaa64.efi",
		ipxeBuilds: map[string]bool{"n1.kpxe": true}}
	builds := bootConf{bios: "undionly.kpxe", efi64: "snponly.efi", arm64: "grubaa64.efi",
		ipxeBuilds: map[string]bool{"undionly.kpxe": true, "snponly.efi": true, "n1.kpxe": true}}
	hostFile := &host{bootfile: "n1.0"}
	hostBuild := &host{bootfile: "n1.kpxe"}
	hostScript := &host{ipxe: "n1.ipxe"}
	const (
		vcBIOS  = "PXEClient:Arch:00000:UNDI:002001"
		vcEFI64 = "PXEClient:Arch:00007:UNDI:003016"
		vcARM64 = "PXEClient:Arch:00011:UNDI:003016"
	)
	uc := []byte("iPXE")
	for name, tc := range map[string]struct {
		conf     bootConf
		host     *host
		req      bootRequest
		ok       bool
		file     string
		next     netip.Addr
		vc       string
		option43 bool
		kind     string // checked when set
	}{
		"not pxe":           {conf: conf, req: bootRequest{vendorClass: "udhcp 1.36", arch: -1}},
		"no vendor class":   {conf: conf, req: bootRequest{arch: 0}},
		"bios":              {conf: conf, req: bootRequest{vendorClass: vcBIOS, arch: 0}, ok: true, file: "undionly.kpxe", next: srv, vc: "PXEClient", option43: true, kind: "bios"},
		"bios from vc only": {conf: conf, req: bootRequest{vendorClass: vcBIOS, arch: -1}, ok: true, file: "undionly.kpxe", next: srv, vc: "PXEClient", option43: true},
		"efi64 arch 7":      {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00007:UNDI:003000", arch: 7}, ok: true, file: "snponly.efi", next: srv, vc: "PXEClient", option43: true, kind: "efi64"},
		"efi64 arch 9":      {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00009:UNDI:003000", arch: 9}, ok: true, file: "snponly.efi", next: srv, vc: "PXEClient", option43: true},
		"efi64 vc only":     {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00007:UNDI:003000", arch: -1}, ok: true, file: "snponly.efi", next: srv, vc: "PXEClient", option43: true},
		"arm64":             {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00011:UNDI:003000", arch: 11}, ok: true, file: "ipxe-arm64.efi", next: srv, vc: "PXEClient", option43: true},
		"efi32 unset":       {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00006:UNDI:003000", arch: 6}},
		"unknown arch":      {conf: conf, req: bootRequest{vendorClass: "PXEClient", arch: 42}},
		"ipxe user class":   {conf: conf, req: bootRequest{vendorClass: vcBIOS, arch: 0, userClass: uc}, ok: true, file: "boot.ipxe", next: srv, kind: "ipxe"},
		"ipxe rfc3004 uc":   {conf: conf, req: bootRequest{arch: 7, userClass: []byte("\x04iPXE")}, ok: true, file: "boot.ipxe", next: srv},
		"ipxe option 175":   {conf: conf, req: bootRequest{arch: 7, ipxeEncap: true}, ok: true, file: "boot.ipxe", next: srv},
		"http boot":         {conf: conf, req: bootRequest{vendorClass: "HTTPClient:Arch:00016:UNDI:003000", arch: 16}, ok: true, file: "http://10.0.0.1:8080/images/ipxe.efi", next: srv, vc: "HTTPClient"},
		"http boot unset":   {conf: bootConf{bios: "x"}, req: bootRequest{vendorClass: "HTTPClient:Arch:00016", arch: 16}},
		"host override":     {conf: conf, host: node, req: bootRequest{vendorClass: "PXEClient:Arch:00007", arch: 7}, ok: true, file: "special.kpxe", next: other, vc: "PXEClient", option43: true},
		"host ipxe":         {conf: conf, host: node, req: bootRequest{vendorClass: "PXEClient", arch: 7, userClass: uc}, ok: true, file: "http://10.0.0.1/node.ipxe", next: other},
		"host without boot": {conf: conf, host: &host{hostname: "n"}, req: bootRequest{vendorClass: "PXEClient", arch: 0}, ok: true, file: "undionly.kpxe", next: srv, vc: "PXEClient", option43: true},
		"next server conf":  {conf: bootConf{bios: "a", nextServer: other}, req: bootRequest{vendorClass: "PXEClient", arch: 0}, ok: true, file: "a", next: other, vc: "PXEClient", option43: true},

		// iPXE clients without an ipxe entry get the firmware's bootfile,
		// as a PXE ROM would.
		"ipxe no key, bios":       {conf: classic, req: bootRequest{vendorClass: vcBIOS, arch: 0, userClass: uc}, ok: true, file: "pxelinux.0", next: srv, vc: "PXEClient", option43: true, kind: "ipxe"},
		"ipxe no key, efi64":      {conf: classic, req: bootRequest{vendorClass: vcEFI64, arch: 7, userClass: uc}, ok: true, file: "grubnetx64.efi", next: srv, vc: "PXEClient", option43: true, kind: "ipxe"},
		"ipxe no key, arm64":      {conf: classic, req: bootRequest{vendorClass: vcARM64, arch: 11, userClass: uc}, ok: true, file: "grubaa64.efi", next: srv, vc: "PXEClient", option43: true},
		"ipxe no key, 175 only":   {conf: classic, req: bootRequest{arch: 7, ipxeEncap: true}, ok: true, file: "grubnetx64.efi", next: srv, vc: "PXEClient", option43: true},
		"ipxe no key, vc arch":    {conf: classic, req: bootRequest{vendorClass: vcEFI64, arch: -1, userClass: uc}, ok: true, file: "grubnetx64.efi", next: srv, vc: "PXEClient", option43: true},
		"ipxe no key, efi32":      {conf: classic, req: bootRequest{vendorClass: "PXEClient:Arch:00006", arch: 6, userClass: uc}},
		"ipxe no key, host file":  {conf: classic, host: hostFile, req: bootRequest{vendorClass: vcBIOS, arch: 0, userClass: uc}, ok: true, file: "n1.0", next: srv, vc: "PXEClient", option43: true},
		"ipxe host script only":   {conf: classic, host: hostScript, req: bootRequest{vendorClass: vcBIOS, arch: 0, userClass: uc}, ok: true, file: "n1.ipxe", next: srv, kind: "ipxe"},
		"pxe, host script only":   {conf: classic, host: hostScript, req: bootRequest{vendorClass: vcBIOS, arch: 0}, ok: true, file: "pxelinux.0", next: srv, vc: "PXEClient", option43: true},
		"ipxe no key, http":       {conf: bootConf{url: "http://10.0.0.1/x.efi"}, req: bootRequest{vendorClass: "HTTPClient:Arch:00016", arch: 16, userClass: uc}, ok: true, file: "http://10.0.0.1/x.efi", next: srv, vc: "HTTPClient"},
		"key set, builds ignored": {conf: func() bootConf { c := builds; c.ipxe = "boot.ipxe"; return c }(), req: bootRequest{vendorClass: vcBIOS, arch: 0, userClass: uc}, ok: true, file: "boot.ipxe", next: srv},

		// An iPXE build handed to iPXE loops: the old guard stays for it.
		"ipxe, bios build":        {conf: builds, req: bootRequest{vendorClass: vcBIOS, arch: 0, userClass: uc}},
		"ipxe, efi64 build":       {conf: builds, req: bootRequest{vendorClass: vcEFI64, arch: 7, ipxeEncap: true}},
		"ipxe, arm64 not a build": {conf: builds, req: bootRequest{vendorClass: vcARM64, arch: 11, userClass: uc}, ok: true, file: "grubaa64.efi", next: srv, vc: "PXEClient", option43: true},
		"pxe rom, bios build":     {conf: builds, req: bootRequest{vendorClass: vcBIOS, arch: 0}, ok: true, file: "undionly.kpxe", next: srv, vc: "PXEClient", option43: true, kind: "bios"},
		"ipxe, host build":        {conf: classic, host: hostBuild, req: bootRequest{vendorClass: vcBIOS, arch: 0, userClass: uc}},
		"ipxe, host not a build":  {conf: builds, host: hostFile, req: bootRequest{vendorClass: vcBIOS, arch: 0, userClass: uc}, ok: true, file: "n1.0", next: srv, vc: "PXEClient", option43: true},
		"pxe rom, host build":     {conf: classic, host: hostBuild, req: bootRequest{vendorClass: vcBIOS, arch: 0}, ok: true, file: "n1.kpxe", next: srv, vc: "PXEClient", option43: true},
	} {
		got, ok := bootPolicy(tc.conf, tc.host, srv, tc.req)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v (%+v)", name, ok, tc.ok, got)
			continue
		}
		if !ok {
			continue
		}
		if got.file != tc.file || got.nextServer != tc.next || got.vendorClass != tc.vc || (got.pxeVendor != nil) != tc.option43 {
			t.Errorf("%s: got %+v; want file %q next %v vc %q option43 %v", name, got, tc.file, tc.next, tc.vc, tc.option43)
		}
		if tc.kind != "" && got.kind != tc.kind {
			t.Errorf("%s: kind %q, want %q", name, got.kind, tc.kind)
		}
	}
}
