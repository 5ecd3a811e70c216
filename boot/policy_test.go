package boot

import "testing"

func TestDecide(t *testing.T) {
	v4 := Entries{Key: "dhcp.boot", BIOS: "undionly.kpxe", EFI64: "snponly.efi", IPXE: "boot.ipxe", HTTP: "http://h/x.efi"}
	v6 := Entries{Key: "dhcpv6.boot", EFI64: "tftp://[fd00::1]/snponly.efi", ARM64: "tftp://[fd00::1]/a.efi",
		IPXEBuilds: map[string]bool{"tftp://[fd00::1]/snponly.efi": true}}
	host := &Override{Key: "dhcpv6.hosts[1]", Bootfile: "special.efi"}
	uc6 := []byte("\x00\x04iPXE") // DHCPv6 option 15: two-byte lengths
	for name, tc := range map[string]struct {
		e    Entries
		o    *Override
		r    Request
		ok   bool
		want Decision
	}{
		"not a boot client": {e: v4, r: Request{VendorClass: "udhcp", Arch: -1}},
		"pxe efi64":         {e: v4, r: Request{VendorClass: "PXEClient:Arch:00007", Arch: 7}, ok: true, want: Decision{File: "snponly.efi", Kind: "efi64", VendorClass: "PXEClient", Source: "dhcp.boot.efi64"}},
		"arch from vc":      {e: v4, r: Request{VendorClass: "PXEClient:Arch:00000", Arch: -1}, ok: true, want: Decision{File: "undionly.kpxe", Kind: "bios", VendorClass: "PXEClient", Source: "dhcp.boot.bios"}},
		"ipxe script":       {e: v4, r: Request{Arch: 7, UserClass: []byte("iPXE")}, ok: true, want: Decision{File: "boot.ipxe", Kind: "ipxe", Source: "dhcp.boot.ipxe"}},
		"http boot":         {e: v4, r: Request{VendorClass: "HTTPClient:Arch:00016", Arch: 16}, ok: true, want: Decision{File: "http://h/x.efi", Kind: "http", VendorClass: "HTTPClient", Source: "dhcp.boot.http"}},
		"v6 pxe":            {e: v6, r: Request{VendorClass: "PXEClient:Arch:00007:UNDI:003016", Arch: 7}, ok: true, want: Decision{File: "tftp://[fd00::1]/snponly.efi", Kind: "efi64", VendorClass: "PXEClient", Source: "dhcpv6.boot.efi64"}},
		"v6 ipxe, build":    {e: v6, r: Request{Arch: 7, UserClass: uc6}},
		"v6 ipxe, arm64":    {e: v6, r: Request{Arch: 11, UserClass: uc6}, ok: true, want: Decision{File: "tftp://[fd00::1]/a.efi", Kind: "ipxe", VendorClass: "PXEClient", Source: "dhcpv6.boot.arm64"}},
		"v6 host override":  {e: v6, o: host, r: Request{VendorClass: "PXEClient", Arch: 7}, ok: true, want: Decision{File: "special.efi", Kind: "efi64", VendorClass: "PXEClient", Source: "dhcpv6.hosts[1].bootfile"}},
		"v6 http unset":     {e: v6, r: Request{VendorClass: "HTTPClient", Arch: 16}},
	} {
		got, ok := Decide(tc.e, tc.o, tc.r)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: Decide = %+v, %v; want %+v, %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMatch(t *testing.T) {
	m, err := CompileMatch("rules[0].match", MatchSpec{VendorClass: "^Cisco", MACOUI: []string{"00:1b:54"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		f    Facts
		want bool
	}{
		"both":       {Facts{VendorClass: "Cisco-C9300", MAC: []byte{0, 0x1b, 0x54, 1, 2, 3}}, true},
		"wrong oui":  {Facts{VendorClass: "Cisco-C9300", MAC: []byte{0, 0x1b, 0x55, 1, 2, 3}}, false},
		"no vendor":  {Facts{MAC: []byte{0, 0x1b, 0x54, 1, 2, 3}}, false},
		"no mac":     {Facts{VendorClass: "Cisco"}, false},
		"lowercased": {Facts{VendorClass: "cisco", MAC: []byte{0, 0x1b, 0x54}}, false},
	} {
		if got := m.Matches(tc.f); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", name, got, tc.want)
		}
	}
	for name, spec := range map[string]MatchSpec{
		"empty":     {},
		"bad regex": {RemoteID: "("},
		"bad oui":   {MACOUI: []string{"zz"}},
	} {
		if _, err := CompileMatch("rules[0].match", spec); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
