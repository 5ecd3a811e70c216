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
	noIPXE := conf
	noIPXE.ipxe = ""
	for name, tc := range map[string]struct {
		conf     bootConf
		host     *host
		req      bootRequest
		ok       bool
		file     string
		next     netip.Addr
		vc       string
		option43 bool
	}{
		"not pxe":           {conf: conf, req: bootRequest{vendorClass: "udhcp 1.36", arch: -1}},
		"no vendor class":   {conf: conf, req: bootRequest{arch: 0}},
		"bios":              {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: 0}, ok: true, file: "undionly.kpxe", next: srv, vc: "PXEClient", option43: true},
		"bios from vc only": {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: -1}, ok: true, file: "undionly.kpxe", next: srv, vc: "PXEClient", option43: true},
		"efi64 arch 7":      {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00007:UNDI:003000", arch: 7}, ok: true, file: "snponly.efi", next: srv, vc: "PXEClient", option43: true},
		"efi64 arch 9":      {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00009:UNDI:003000", arch: 9}, ok: true, file: "snponly.efi", next: srv, vc: "PXEClient", option43: true},
		"efi64 vc only":     {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00007:UNDI:003000", arch: -1}, ok: true, file: "snponly.efi", next: srv, vc: "PXEClient", option43: true},
		"arm64":             {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00011:UNDI:003000", arch: 11}, ok: true, file: "ipxe-arm64.efi", next: srv, vc: "PXEClient", option43: true},
		"efi32 unset":       {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00006:UNDI:003000", arch: 6}},
		"unknown arch":      {conf: conf, req: bootRequest{vendorClass: "PXEClient", arch: 42}},
		"ipxe user class":   {conf: conf, req: bootRequest{vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: 0, userClass: []byte("iPXE")}, ok: true, file: "boot.ipxe", next: srv},
		"ipxe rfc3004 uc":   {conf: conf, req: bootRequest{arch: 7, userClass: []byte("\x04iPXE")}, ok: true, file: "boot.ipxe", next: srv},
		"ipxe option 175":   {conf: conf, req: bootRequest{arch: 7, ipxeEncap: true}, ok: true, file: "boot.ipxe", next: srv},
		"ipxe no script":    {conf: noIPXE, req: bootRequest{vendorClass: "PXEClient:Arch:00000", arch: 0, userClass: []byte("iPXE")}},
		"http boot":         {conf: conf, req: bootRequest{vendorClass: "HTTPClient:Arch:00016:UNDI:003000", arch: 16}, ok: true, file: "http://10.0.0.1:8080/images/ipxe.efi", next: srv, vc: "HTTPClient"},
		"http boot unset":   {conf: bootConf{bios: "x"}, req: bootRequest{vendorClass: "HTTPClient:Arch:00016", arch: 16}},
		"host override":     {conf: conf, host: node, req: bootRequest{vendorClass: "PXEClient:Arch:00007", arch: 7}, ok: true, file: "special.kpxe", next: other, vc: "PXEClient", option43: true},
		"host ipxe":         {conf: conf, host: node, req: bootRequest{vendorClass: "PXEClient", arch: 7, userClass: []byte("iPXE")}, ok: true, file: "http://10.0.0.1/node.ipxe", next: other},
		"host without boot": {conf: conf, host: &host{hostname: "n"}, req: bootRequest{vendorClass: "PXEClient", arch: 0}, ok: true, file: "undionly.kpxe", next: srv, vc: "PXEClient", option43: true},
		"next server conf":  {conf: bootConf{bios: "a", nextServer: other}, req: bootRequest{vendorClass: "PXEClient", arch: 0}, ok: true, file: "a", next: other, vc: "PXEClient", option43: true},
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
	}
}
