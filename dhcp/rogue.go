package dhcp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// RogueDetection finds other DHCP servers on the segment: a second server
// (a home router, a forgotten dnsmasq) hands out wrong addresses and boot
// files, and clients take whichever offer comes first.
//
// Sources: DHCPREQUESTs that name another server id (always on); a passive
// listener on the client port that sees broadcast OFFERs and ACKs of other
// servers; and, optionally, an active probe. Each server id is logged once
// per Window and counted in bootsrv_dhcp_other_server_offers_total; the
// gauge bootsrv_dhcp_other_servers counts those seen in the last Window.
type RogueDetection struct {
	// Listen opens a passive listener on the client port (68) of the
	// interface (SO_REUSEADDR/SO_REUSEPORT, so a local DHCP client can
	// share it). Default true in server mode; false in proxy mode, where
	// the segment's own DHCP server is expected (list it in KnownServers
	// and turn Listen on to watch for a third one). If the port cannot be
	// bound a warning is logged once and the server runs without it.
	Listen *bool `yaml:"listen"`
	// ProbeInterval sends, this often, a DHCPDISCOVER from the client port
	// with a random locally administered MAC and reports every offer that
	// is not ours (needs Listen). Default 0: no probe.
	ProbeInterval time.Duration `yaml:"probe_interval"`
	// Window is how long a seen server counts in the other_servers gauge
	// and how often it is logged again. Default 10m.
	Window time.Duration `yaml:"window"`
	// KnownServers are server ids (option 54) of servers that are meant to
	// be there (a failover peer, a relay's upstream): never reported.
	KnownServers []string `yaml:"known_servers"`
}

func (r RogueDetection) withDefaults(proxy bool) RogueDetection {
	if r.Listen == nil {
		on := !proxy
		r.Listen = &on
	}
	if r.Window == 0 {
		r.Window = 10 * time.Minute
	}
	return r
}

// maxForeignServers bounds the table of seen server ids (the server id of
// a forged reply is anything the sender likes).
const maxForeignServers = 256

// rogueDetector remembers foreign server ids. It never sees our own id.
type rogueDetector struct {
	ours   netip.Addr
	known  map[netip.Addr]bool
	window time.Duration
	count  *prometheus.CounterVec
	// isPeer, when set, reports the server ids of the servers sharing our
	// lease store (share.go): not rogues.
	isPeer func(netip.Addr) bool

	mu     sync.Mutex
	seen   map[netip.Addr]time.Time // server id -> last seen
	logged map[netip.Addr]time.Time // server id -> last logged
	probes map[string]time.Time     // chaddr of our probes -> sent
}

func newRogueDetector(ours netip.Addr, cfg RogueDetection) (*rogueDetector, error) {
	known, err := parseAddrs("rogue_detection.known_servers", cfg.KnownServers)
	if err != nil {
		return nil, err
	}
	d := &rogueDetector{ours: ours, known: map[netip.Addr]bool{}, window: cfg.Window,
		seen: map[netip.Addr]time.Time{}, logged: map[netip.Addr]time.Time{}, probes: map[string]time.Time{},
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_other_server_offers_total",
			Help: "OFFERs and ACKs from other DHCP servers, by how they were seen (request: a client's REQUEST named the other server; listener: broadcast reply seen on the client port; probe: reply to our probe).",
		}, []string{"source"})}
	for _, a := range known {
		d.known[a] = true
	}
	for _, src := range []string{"request", "listener", "probe"} {
		d.count.WithLabelValues(src)
	}
	return d, nil
}

// observe records server id sid seen by src at now. It reports whether to
// log it: the first time in each window.
func (d *rogueDetector) observe(sid netip.Addr, src string, now time.Time) bool {
	if !sid.IsValid() || sid == d.ours || d.known[sid] || (d.isPeer != nil && d.isPeer(sid)) {
		return false
	}
	d.count.WithLabelValues(src).Inc()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[sid]; !ok && len(d.seen) >= maxForeignServers {
		d.forget(now)
	}
	if _, ok := d.seen[sid]; !ok && len(d.seen) >= maxForeignServers {
		return false // a flood of forged ids: counted, not remembered
	}
	d.seen[sid] = now
	if last, ok := d.logged[sid]; ok && now.Sub(last) < d.window {
		return false
	}
	d.logged[sid] = now
	return true
}

// forget drops servers and probes older than the window. Caller holds mu.
func (d *rogueDetector) forget(now time.Time) {
	for a, t := range d.seen {
		if now.Sub(t) >= d.window {
			delete(d.seen, a)
			delete(d.logged, a)
		}
	}
	for m, t := range d.probes {
		if now.Sub(t) >= d.window {
			delete(d.probes, m)
		}
	}
}

// active is the number of foreign servers seen in the last window.
func (d *rogueDetector) active(now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forget(now)
	return len(d.seen)
}

func (d *rogueDetector) addProbe(mac net.HardwareAddr, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forget(now)
	d.probes[string(mac)] = now
}

// isProbe reports whether m carries the chaddr of one of our probes: the
// server hears our own broadcast DISCOVER and must not answer it.
func (d *rogueDetector) isProbe(m *dhcpv4.DHCPv4) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.probes[string(m.ClientHWAddr)]
	return ok
}

// serverReply parses a datagram seen on the client port: a DHCPOFFER,
// DHCPACK or DHCPNAK (RFC 2131 §4.1, op BOOTREPLY) and the id of the server
// that sent it, option 54, else the datagram's source address.
func serverReply(b []byte, from net.Addr) (*dhcpv4.DHCPv4, netip.Addr, bool) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
		return nil, netip.Addr{}, false
	}
	switch m.MessageType() {
	case dhcpv4.MessageTypeOffer, dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak:
	default:
		return nil, netip.Addr{}, false
	}
	sid := ipOf(m.ServerIdentifier())
	if !sid.IsValid() {
		if ua, ok := from.(*net.UDPAddr); ok {
			sid = ipOf(ua.IP)
		}
	}
	return m, sid, sid.IsValid()
}

// ListenClientPort opens the passive listener socket: UDP port on all
// addresses of iface, with SO_REUSEADDR and SO_REUSEPORT so that a DHCP
// client on this host can bind the same port, and SO_BROADCAST for probes.
func ListenClientPort(ctx context.Context, iface string, port int) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_BROADCAST} {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 1); serr != nil {
					return
				}
			}
			if iface != "" {
				serr = unix.BindToDevice(int(fd), iface)
			}
		})
		return errors.Join(err, serr)
	}}
	return lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", port))
}

// WatchOtherServers reads conn (from ListenClientPort) until ctx is
// cancelled, reporting replies of other DHCP servers, and sends probes when
// rogue_detection.probe_interval is set. It does not close conn.
func (s *Server) WatchOtherServers(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	if iv := s.comp().cfg.RogueDetection.ProbeInterval; iv > 0 {
		var wg sync.WaitGroup
		defer wg.Wait()
		pctx, cancel := context.WithCancel(ctx)
		defer cancel() // before wg.Wait: a read error also ends the probes
		wg.Go(func() { s.probeLoop(pctx, conn, iv) })
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := s.readPacket(ctx, conn, buf, "client")
		if err != nil || from == nil {
			return err
		}
		s.clientPortPacket(buf[:n], from)
	}
}

// clientPortPacket handles one datagram from the client port.
func (s *Server) clientPortPacket(b []byte, from net.Addr) {
	m, sid, ok := serverReply(b, from)
	if !ok {
		return
	}
	src := "listener"
	if s.safety.rogue.isProbe(m) {
		src = "probe"
	}
	if s.safety.rogue.observe(sid, src, s.now()) {
		s.log.Warn().Str("server_id", sid.String()).Str("from", from.String()).Str("source", src).
			Str("type", typeName(m.MessageType())).Str("yiaddr", m.YourIPAddr.String()).
			Str("client_mac", m.ClientHWAddr.String()).Msg("other DHCP server on the segment")
	}
}

// otherServerRequest reports a DHCPREQUEST naming another server (§4.3.2:
// the client chose that server's offer).
func (s *Server) otherServerRequest(sid netip.Addr, log zerolog.Logger) {
	if s.safety.rogue.observe(sid, "request", s.now()) {
		log.Warn().Str("server_id", sid.String()).Str("source", "request").
			Msg("other DHCP server on the segment: a client chose its offer")
	}
}

func (s *Server) probeLoop(ctx context.Context, conn net.PacketConn, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.probe(conn); err != nil {
			s.log.Warn().Err(err).Msg("dhcp rogue probe not sent")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe broadcasts a DHCPDISCOVER with the broadcast flag (§4.1) from a
// random locally administered MAC, so every server's OFFER comes back to
// the client port as a broadcast.
func (s *Server) probe(conn net.PacketConn) error {
	mac := make(net.HardwareAddr, 6)
	rand.Read(mac)
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	m, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithBroadcast(true))
	if err != nil {
		return err
	}
	s.safety.rogue.addProbe(mac, s.now())
	dst := &net.UDPAddr{IP: s.bcast.AsSlice(), Port: s.relayPort}
	if s.safety.probeDst != nil {
		dst = s.safety.probeDst
	}
	_, err = conn.WriteTo(m.ToBytes(), dst)
	return err
}
