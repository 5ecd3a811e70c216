package boot

import (
	"strconv"
	"strings"
)

// Client system architecture types (RFC 4578 §2.1, and the IANA
// "Processor Architecture Types" registry that DHCPv6 option 61 shares,
// RFC 5970 §3.3) the policy maps.
const (
	ArchBIOS      = 0
	ArchEFI32     = 6
	ArchEFI64     = 7
	ArchEFIBC     = 9 // EFI byte code; in practice x86-64 firmware
	ArchARM64     = 11
	ArchEFI32HTTP = 15
	ArchEFI64HTTP = 16
	ArchARM64HTTP = 19
)

// ArchName is the policy's name for an architecture: bios, efi32, efi64,
// arm64, else "archN". It is also the boot entry key (dhcp.boot.efi64).
func ArchName(arch int) string {
	switch arch {
	case ArchBIOS:
		return "bios"
	case ArchEFI32:
		return "efi32"
	case ArchEFI64, ArchEFIBC:
		return "efi64"
	case ArchARM64:
		return "arm64"
	}
	return "arch" + strconv.Itoa(arch)
}

// ArchFromVendorClass reads "PXEClient:Arch:00007:UNDI:003016" (PXE 2.1
// §2.2), for clients that send no architecture option. Default BIOS, as
// for the oldest PXE ROMs.
func ArchFromVendorClass(vc string) int {
	_, rest, ok := strings.Cut(vc, ":Arch:")
	if !ok || len(rest) < 5 {
		return ArchBIOS
	}
	n, err := strconv.Atoi(rest[:5])
	if err != nil {
		return ArchBIOS
	}
	return n
}
