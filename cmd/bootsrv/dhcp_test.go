package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckWarnsAboutIPXEBuilds: bootsrv check names each bootfile that is
// an iPXE build handed out without an ipxe entry, with its key and what to
// set; other bootfiles, and configs with boot.ipxe, get no warning.
func TestCheckWarnsAboutIPXEBuilds(t *testing.T) {
	kpxe := append([]byte{0xea, 0x05, 0x00, 0xc0, 0x07, 0}, "PXE->EB:"...)
	files := map[string][]byte{
		"undionly.kpxe": kpxe,
		"n1/ipxe.pxe":   kpxe,
		"snponly.efi":   append([]byte("MZ\x90\x00"), "#!ipxe"...),
		"pxelinux.0":    {0xea, 0x24, 0x7c, 0, 0},
	}
	const head = "images:\n  root: ROOT\ndhcp:\n  mode: proxy\n  interface: eth9\n  server_ip: 10.0.0.5\n"
	for name, tc := range map[string]struct {
		body string
		want []string // lines expected in the output
		not  []string
	}{
		"ipxe builds, no ipxe key": {
			body: head + "  boot: {bios: undionly.kpxe, efi64: snponly.efi}\n  hosts:\n    - {mac: \"52:54:00:00:00:01\", bootfile: n1/ipxe.pxe}\n",
			want: []string{
				`warning: dhcp.boot.bios: "undionly.kpxe" is an iPXE build`,
				`warning: dhcp.boot.efi64: "snponly.efi" is an iPXE build`,
				`warning: dhcp.hosts[0].bootfile: "n1/ipxe.pxe" is an iPXE build`,
				"set dhcp.boot.ipxe to an iPXE script or URL",
				"set dhcp.hosts[0].ipxe or dhcp.boot.ipxe",
			},
		},
		"classic pxelinux": {body: head + "  boot: {bios: pxelinux.0}\n", not: []string{"iPXE build"}},
		"ipxe key set":     {body: head + "  boot: {bios: undionly.kpxe, ipxe: boot.ipxe}\n", not: []string{"iPXE build"}},
	} {
		t.Run(name, func(t *testing.T) {
			file := writeConfig(t, tc.body)
			root := filepath.Join(filepath.Dir(file), "images")
			for n, b := range files {
				os.MkdirAll(filepath.Dir(filepath.Join(root, n)), 0o755)
				if err := os.WriteFile(filepath.Join(root, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			if err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("check output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("check output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}
