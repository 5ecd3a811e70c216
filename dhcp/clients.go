package dhcp

import (
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bootsrv/bootsrv/boot"
)

// ClientInfo is what the server knows about the client that holds an
// address: for other parts of bootsrv (per-machine boot scripts) that see
// only a peer address.
type ClientInfo struct {
	IP  netip.Addr
	MAC net.HardwareAddr
	// Hostname is the reservation's hostname, else the one the client sent
	// (option 12), else empty.
	Hostname string
	// Arch is the client system architecture (RFC 4578 §2.1, option 93)
	// of the client's last acknowledged DHCPREQUEST, or the one its PXE
	// vendor class names; -1 when unknown (also after a restart, since
	// it is kept in memory only).
	Arch int
	// Host is the reservation the client matched, as configured; nil for
	// none.
	Host *Host
}

// Client returns what the server knows about the client holding an active
// lease on ip. It is safe to call while Serve runs.
func (s *Server) Client(ip netip.Addr) (ClientInfo, bool) {
	l, ok := s.table.active(ip, s.now())
	if !ok {
		return ClientInfo{}, false
	}
	ci := ClientInfo{IP: l.IP, Hostname: l.Hostname, Arch: -1}
	ci.MAC, _ = net.ParseMAC(l.MAC)
	var h *host
	if l.ClientID != "" {
		if cid, err := hex.DecodeString(l.ClientID); err == nil {
			h = s.comp().byCID[string(cid)]
		}
	}
	if h == nil && ci.MAC != nil {
		h = s.comp().byMAC[ci.MAC.String()]
	}
	if h != nil {
		conf := h.conf
		ci.Host = &conf
		if conf.Hostname != "" {
			ci.Hostname = conf.Hostname
		}
	}
	if a, ok := s.seen.Load(ip); ok {
		ci.Arch = a.(int)
	}
	return ci, true
}

// noteArch remembers the architecture a client announced when it was
// acknowledged ip, for Client.
func (s *Server) noteArch(ip netip.Addr, req *dhcpv4.DHCPv4) {
	arch := -1
	if a := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
		arch = int(binary.BigEndian.Uint16(a))
	} else if vc := req.ClassIdentifier(); len(vc) >= 9 && vc[:9] == "PXEClient" {
		arch = boot.ArchFromVendorClass(vc)
	}
	if arch < 0 {
		s.seen.Delete(ip)
		return
	}
	s.seen.Store(ip, arch)
}

// active is the unexpired, undeclined lease on ip.
func (t *leaseTable) active(ip netip.Addr, now time.Time) (Lease, bool) {
	if !ip.Is4() {
		return Lease{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byIP[u32(ip)]
	if e == nil || e.lease.Declined || !e.lease.Active(now) {
		return Lease{}, false
	}
	return e.lease, true
}
