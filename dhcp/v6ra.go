package dhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"
)

// Router advertisements (RFC 4861 §4.2, §6.2), for links without a
// router: UEFI firmware and iPXE look for the managed flag before they use
// DHCPv6, and learn from the prefix that the boot server is on-link. The
// prefix is on-link (L) but not for autoconfiguration (A clear), so
// addresses come from DHCPv6 only. Every lifetime is short, so the link
// forgets the advertisements soon after bootsrv stops: the router
// lifetime too, which is not 0 although bootsrv forwards nothing, because
// UEFI PXE (EDK2's PxeBcRegisterIp6Address) waits 10 s for a default
// router in its route table before it fetches the boot file; on a link
// without a router there is nowhere off-link to reach anyway.
const (
	raInterval       = 10 * time.Second // between unsolicited RAs; RFC 4861 MinRtrAdvInterval is at least 3 s
	raRouterLifetime = 30               // seconds: 3 intervals, the least RFC 4861 §6.2.1 allows but 0
	raValidLifetime  = 300              // seconds, the prefix's valid lifetime
	raPrefLifetime   = 120              // seconds, its preferred lifetime
	raMinSolicited   = 100 * time.Millisecond
)

var (
	allNodes   = net.ParseIP("ff02::1")
	allRouters = net.ParseIP("ff02::2")
)

// ListenRA opens the raw ICMPv6 socket router advertisements go out on,
// bound to iface (SO_BINDTODEVICE), a member of all-routers (ff02::2) to
// hear router solicitations, hop limit 255 as RFC 4861 §6.1.2 requires.
func ListenRA(ctx context.Context, iface string) (net.PacketConn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.BindToDevice(int(fd), iface) }); err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, err
	}
	p := ipv6.NewPacketConn(conn)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	for _, step := range []func() error{
		func() error { return p.SetICMPFilter(&f) },
		func() error { return p.SetMulticastHopLimit(255) },
		func() error { return p.SetHopLimit(255) },
		func() error { return p.SetMulticastInterface(ifi) },
		func() error { return p.SetMulticastLoopback(false) },
		func() error { return p.SetControlMessage(ipv6.FlagHopLimit, true) },
		func() error { return p.JoinGroup(ifi, &net.IPAddr{IP: allRouters}) },
	} {
		if err := step(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("router advertisement socket on %s: %w", iface, err)
		}
	}
	return conn, nil
}

// ServeRA sends router advertisements on conn (from ListenRA) every
// raInterval and in answer to router solicitations, until ctx is
// cancelled. It never closes conn.
func (s *Server6) ServeRA(ctx context.Context, conn net.PacketConn) error {
	iface := s.comp().cfg.Interface
	hw := interfaceHW(iface)
	p := ipv6.NewPacketConn(conn)
	send := func(to net.Addr, reason string) {
		ra := buildRA(hw, s.advertised())
		if _, err := p.WriteTo(ra, nil, to); err != nil {
			if ok, n := s.readSample.allow(s.now()); ok {
				s.log.Warn().Err(err).Int("suppressed", n).Msg("router advertisement not sent")
			}
			return
		}
		s.m.ra.WithLabelValues(reason).Inc()
	}
	everyone := &net.IPAddr{IP: allNodes, Zone: iface}
	send(everyone, "periodic")
	s.running.Go(func() {
		t := time.NewTicker(raInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				send(everyone, "periodic")
			}
		}
	})
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	var last time.Time
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := p.ReadFrom(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var ne net.Error
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			if !errors.As(err, &ne) || !ne.Timeout() {
				s.m.readErrors.WithLabelValues("ra").Inc()
			}
			continue
		}
		if !isSolicitation(buf[:n], cm) {
			continue
		}
		// Answer each solicitation at once (a booting client waits for
		// it), unicast to its sender (RFC 4861 §6.2.6), but not more than
		// ten times a second, so the server is no amplifier.
		if now := time.Now(); now.Sub(last) >= raMinSolicited {
			last = now
			to := net.Addr(everyone)
			if a, ok := src.(*net.IPAddr); ok && !a.IP.IsUnspecified() {
				to = a
			}
			send(to, "solicited")
		}
	}
}

// isSolicitation reports whether b is a valid router solicitation (RFC
// 4861 §6.1.1: hop limit 255, code 0).
func isSolicitation(b []byte, cm *ipv6.ControlMessage) bool {
	if len(b) < 8 || b[0] != byte(ipv6.ICMPTypeRouterSolicitation) || b[1] != 0 {
		return false
	}
	return cm == nil || cm.HopLimit == 255
}

// advertised is the prefix of the pool on the server's own link: the one
// RAs announce. Invalid when no pool is.
func (s *Server6) advertised() netip.Prefix {
	if p := s.comp().poolFor(s.serverIP); p != nil {
		return p.prefix
	}
	return netip.Prefix{}
}

// buildRA is a router advertisement (RFC 4861 §4.2): managed and
// other-config flags, a short router lifetime, the source link-layer address
// (hw, when the interface has one) and the prefix (when valid) on-link,
// not for autoconfiguration. The kernel fills in the checksum.
func buildRA(hw net.HardwareAddr, prefix netip.Prefix) []byte {
	b := []byte{
		byte(ipv6.ICMPTypeRouterAdvertisement), 0, 0, 0, // type, code, checksum
		64,                  // cur hop limit
		0x80 | 0x40,         // M (managed address configuration), O (other configuration)
		0, raRouterLifetime, // router lifetime, seconds (big-endian; under 256)
		0, 0, 0, 0, // reachable time: unspecified
		0, 0, 0, 0, // retrans timer: unspecified
	}
	if len(hw) > 0 && (len(hw)+2)%8 == 0 {
		b = append(append(b, 1, byte((len(hw)+2)/8)), hw...) // source link-layer address
	}
	if prefix.IsValid() {
		b = append(b, 3, 4, byte(prefix.Bits()), 0x80) // prefix information, on-link (L) only
		b = binary.BigEndian.AppendUint32(b, raValidLifetime)
		b = binary.BigEndian.AppendUint32(b, raPrefLifetime)
		b = append(b, 0, 0, 0, 0)
		a := prefix.Masked().Addr().As16()
		b = append(b, a[:]...)
	}
	return b
}
