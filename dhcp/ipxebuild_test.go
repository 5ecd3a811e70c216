package dhcp

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bootsrv/bootsrv/images"
)

// TestIsIPXEBuildRealFiles runs the detection on the firmware that Debian
// ships: iPXE's own builds must match, the other boot loaders must not.
// Files that are not installed are skipped (a failure under BOOTSRV_E2E=1,
// where .ci/run has installed them).
func TestIsIPXEBuildRealFiles(t *testing.T) {
	for path, want := range map[string]bool{
		"/usr/lib/ipxe/undionly.kpxe":                           true,
		"/usr/lib/ipxe/undionly.kkpxe":                          true,
		"/usr/lib/ipxe/ipxe.pxe":                                true,
		"/usr/lib/ipxe/snponly.efi":                             true,
		"/usr/lib/ipxe/ipxe.efi":                                true,
		"/usr/lib/PXELINUX/pxelinux.0":                          false,
		"/usr/lib/PXELINUX/lpxelinux.0":                         false,
		"/usr/lib/syslinux/modules/bios/ldlinux.c32":            false,
		"/usr/lib/syslinux/modules/bios/gpxecmd.c32":            false,
		"/usr/lib/syslinux/modules/efi64/syslinux.c32":          false,
		"/usr/lib/syslinux/memdisk":                             false,
		"/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed": false,
		"/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed":    false,
		"/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed":     false,
		"/usr/lib/shim/shimx64.efi.signed":                      false,
		"/usr/lib/shim/mmx64.efi.signed":                        false,
		"/usr/lib/shim/fbx64.efi.signed":                        false,
	} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				if os.Getenv("BOOTSRV_E2E") == "1" {
					t.Fatal(err)
				}
				t.Skip(err)
			}
			defer f.Close()
			got, err := isIPXEBuild(f)
			if err != nil || got != want {
				t.Errorf("isIPXEBuild = %v, %v; want %v", got, err, want)
			}
		})
	}
	// Every syslinux BIOS module, whatever names the package version has.
	mods, _ := filepath.Glob("/usr/lib/syslinux/modules/*/*.c32")
	for _, m := range mods {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := isIPXEBuild(bytes.NewReader(b)); got || err != nil {
			t.Errorf("%s: isIPXEBuild = %v, %v", m, got, err)
		}
	}
}

func TestIsIPXEBuildShapes(t *testing.T) {
	pe := func(pad int, tail string) []byte {
		b := append([]byte("MZ\x90\x00"), make([]byte, pad)...)
		return append(b, tail...)
	}
	for name, tc := range map[string]struct {
		data []byte
		want bool
	}{
		"empty":                     {nil, false},
		"ipxe script":               {[]byte("#!ipxe\ndhcp\nchain http://10.0.0.1/x\n"), false},
		"text naming the prefix":    {[]byte("log: PXE->EB: !PXE at 9C36:0720\n"), false},
		"pxe prefix":                {append([]byte{0xea, 0x05, 0x00, 0xc0, 0x07, 0}, "PXE->EB:"...), true},
		"pxe magic past the prefix": {append(make([]byte, pxePrefixScan), "PXE->EB:"...), false},
		"pe with script magic":      {pe(100, "#!ipxe"), true},
		"pe, magic across chunks":   {pe(64<<10-7, "#!ipxe"), true},
		"pe, magic far in":          {pe(3<<20, "#!ipxe"), true},
		"pe, magic past the cap":    {pe(maxIPXEScan, "#!ipxe"), false},
		"pe without magic":          {pe(200<<10, "GRUB"), false},
		"not pe, with script magic": {append([]byte{0x7f, 'E', 'L', 'F', 0}, "#!ipxe"...), false},
	} {
		got, err := isIPXEBuild(bytes.NewReader(tc.data))
		if err != nil || got != tc.want {
			t.Errorf("%s: isIPXEBuild = %v, %v; want %v", name, got, err, tc.want)
		}
	}
}

func TestFindIPXEBuilds(t *testing.T) {
	dir := t.TempDir()
	kpxe := append([]byte{0xea, 0x05, 0x00, 0xc0, 0x07, 0}, "PXE->EB:"...)
	for name, data := range map[string][]byte{
		"undionly.kpxe":  kpxe,
		"efi/snp.efi":    append([]byte("MZ\x00\x00"), "#!ipxe"...),
		"pxelinux.0":     {0xea, 0x24, 0x7c, 0, 0},
		"boot.ipxe":      []byte("#!ipxe\n"),
		"hosts/n1.kpxe":  kpxe,
		"hosts/n2.kpxe":  kpxe,
		"grubnetx64.efi": append([]byte("MZ\x00\x00"), "GRUB"...),
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store, err := images.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hosts := []Host{
		{MAC: "52:54:00:00:00:01", Bootfile: "hosts/n1.kpxe"},
		{MAC: "52:54:00:00:00:02", Bootfile: "hosts/n2.kpxe", IPXE: "n2.ipxe"}, // has its own script
		{MAC: "52:54:00:00:00:03", Bootfile: "pxelinux.0"},
	}
	for name, tc := range map[string]struct {
		boot    Boot
		scripts []string
		want    []string // key=file
	}{
		"classic, no ipxe key": {boot: Boot{BIOS: "pxelinux.0", EFI64: "grubnetx64.efi"},
			want: []string{"hosts[0].bootfile=hosts/n1.kpxe"}},
		"ipxe builds, no ipxe key": {boot: Boot{BIOS: "undionly.kpxe", EFI64: "efi/snp.efi", ARM64: "missing.efi"},
			want: []string{"boot.bios=undionly.kpxe", "boot.efi64=efi/snp.efi", "hosts[0].bootfile=hosts/n1.kpxe"}},
		"ipxe key set": {boot: Boot{BIOS: "undionly.kpxe", IPXE: "boot.ipxe"}},
		"script and url": {boot: Boot{BIOS: "undionly.kpxe", EFI64: "http://10.0.0.1/snp.efi"}, scripts: []string{"undionly.kpxe"},
			want: []string{"hosts[0].bootfile=hosts/n1.kpxe"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := Config{Boot: tc.boot, Hosts: hosts, Scripts: tc.scripts}
			found, err := c.FindIPXEBuilds(store)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range found {
				got = append(got, f.Key+"="+f.File)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("found %s, want %s", strings.Join(got, " "), strings.Join(tc.want, " "))
			}
		})
	}
}
