package dhcp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/bootsrv/bootsrv/images"
)

// iPXE builds are recognised by what their own code leaves uncompressed.
//
// A BIOS PXE build (ipxe.pxe, undionly.kpxe, .kkpxe, .kkkpxe) starts with
// iPXE's PXE prefix (src/arch/x86/prefix/pxeprefix.S), which is never
// compressed and prints "PXE->EB:" first thing; the rest of the image is
// compressed, so no other iPXE text is visible in it. The string sits in the
// first KiB.
//
// An EFI build (ipxe.efi, snponly.efi, snp.efi, on any architecture) is a
// PE image ("MZ") made by elf2efi, not compressed, and carries the script
// magic "#!ipxe" that the script loader probes for (src/image/script.c).
// An iPXE script starts with that magic too, so it counts only in a PE
// image: a script is what an iPXE client should get, never a loop.
//
// Checked against Debian's ipxe and ipxe-qemu packages (2019 build), which
// match, and pxelinux.0, lpxelinux.0, syslinux's .c32 modules, GRUB's
// signed EFI images and shim, which do not. PCI option ROMs and .lkrn
// images are not matched: they are not something a PXE ROM boots.
var (
	pxePrefixMagic = []byte("PXE->EB:")
	scriptMagic    = []byte("#!ipxe")
)

const (
	// pxePrefixScan is how far into a file the PXE prefix's text may be.
	pxePrefixScan = 64 << 10
	// maxIPXEScan bounds the bytes read from one file. iPXE EFI builds are
	// at most a few MiB; a bootfile larger than this is no iPXE build.
	maxIPXEScan = 16 << 20
)

// isIPXEBuild reports whether the bootfile read from r is an iPXE build,
// which an iPXE client would load only to ask for a bootfile again.
func isIPXEBuild(r io.Reader) (bool, error) {
	head := make([]byte, pxePrefixScan)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	head = head[:n]
	// Text files (scripts, configs) hold no NUL byte; every binary does
	// within its first sector.
	if bytes.IndexByte(head[:min(n, 512)], 0) < 0 {
		return false, nil
	}
	if bytes.Contains(head, pxePrefixMagic) {
		return true, nil
	}
	if !bytes.HasPrefix(head, []byte("MZ")) {
		return false, nil
	}
	return containsStream(io.MultiReader(bytes.NewReader(head), io.LimitReader(r, maxIPXEScan-int64(n))), scriptMagic)
}

// containsStream reports whether sub occurs in what r yields, reading it in
// chunks that overlap by len(sub)-1 bytes.
func containsStream(r io.Reader, sub []byte) (bool, error) {
	buf := make([]byte, 64<<10)
	keep := 0
	for {
		n, err := r.Read(buf[keep:])
		if bytes.Contains(buf[:keep+n], sub) {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		end := keep + n
		keep = min(len(sub)-1, end)
		copy(buf, buf[end-keep:end])
	}
}

// IPXEBuild is a bootfile that PXE firmware gets and that is an iPXE build
// in the image store.
type IPXEBuild struct {
	// Key is where the bootfile is configured, inside the dhcp section:
	// "boot.bios", "hosts[2].bootfile".
	Key string
	// File is the bootfile as configured.
	File string
}

// FindIPXEBuilds reads from store each bootfile that iPXE clients get for
// want of an ipxe entry, and returns those that are iPXE builds (see
// isIPXEBuild): boot.bios, efi32, efi64 and arm64 when boot.ipxe is not
// set, and hosts[].bootfile when neither the host's ipxe nor boot.ipxe is.
// URLs, names in c.Scripts and files the store cannot open are passed over
// (New warns about missing bootfiles); errors reading files are returned
// beside the findings from the other files.
//
// The caller puts the files in IPXEBuilds, so the policy keeps iPXE from
// loading itself again, and tells the admin to set boot.ipxe.
func (c Config) FindIPXEBuilds(store *images.Store) ([]IPXEBuild, error) {
	type candidate struct{ key, file string }
	var cands []candidate
	if c.Boot.IPXE == "" {
		for _, k := range []candidate{{"bios", c.Boot.BIOS}, {"efi32", c.Boot.EFI32}, {"efi64", c.Boot.EFI64}, {"arm64", c.Boot.ARM64}} {
			cands = append(cands, candidate{"boot." + k.key, k.file})
		}
		for i, h := range c.Hosts {
			if h.IPXE == "" {
				cands = append(cands, candidate{fmt.Sprintf("hosts[%d].bootfile", i), h.Bootfile})
			}
		}
	}
	var out []IPXEBuild
	var errs []error
	for _, cd := range cands {
		if cd.file == "" || strings.Contains(cd.file, "://") || slices.Contains(c.Scripts, cd.file) {
			continue
		}
		f, _, err := store.Open(cd.file)
		if err != nil {
			continue
		}
		is, err := isIPXEBuild(f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: reading %s: %w", cd.key, cd.file, err))
			continue
		}
		if is {
			out = append(out, IPXEBuild{Key: cd.key, File: cd.file})
		}
	}
	return out, errors.Join(errs...)
}
