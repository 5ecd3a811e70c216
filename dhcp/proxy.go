package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy mode (proxyDHCP, PXE 2.1 §2, with RFC 4578 options) runs beside the
// segment's own DHCP server: that server hands out addresses, bootsrv only
// tells PXE clients what to boot. It answers
//
//   - on the DHCP port (67), a DHCPDISCOVER from a PXE client (option 60
//     "PXEClient..." or "HTTPClient...") with a proxy DHCPOFFER: yiaddr
//     0.0.0.0, option 54 our server id, option 60 echoing the client's kind,
//     siaddr and file/option 67 from the boot policy, option 43 with
//     PXE_DISCOVERY_CONTROL = 8 (boot the file, skip boot server discovery),
//     option 97 echoed; and a DHCPREQUEST that names us in option 54 with a
//     DHCPACK of the same content;
//   - on the PXE port (pxe_port, 4011), a DHCPREQUEST or DHCPINFORM from a
//     client that already has its address (PXE 2.1 boot server request; iPXE's
//     ProxyDHCPREQUEST, EDK2's "BINL" request) with a DHCPACK carrying the
//     bootfile, sent back to the request's source address and port.
//
// Everything else is dropped and counted: other clients' traffic belongs to
// the DHCP server. No addresses, no lease file, no pools.

// pxePortConn marks the PXE port's socket, so the handler knows which port
// a request came in on.
type pxePortConn struct{ net.PacketConn }

// ServePXE answers PXE boot server requests read from conn, the socket on
// pxe_port (see Listen), until ctx is cancelled. Proxy mode only; run it
// next to Serve on the DHCP port. It does not close conn.
func (s *Server) ServePXE(ctx context.Context, conn net.PacketConn) error {
	if !s.comp().proxy {
		return errors.New("dhcp: the PXE port is served in proxy mode only")
	}
	return s.Serve(ctx, pxePortConn{conn})
}

// ProxyMode reports whether the server runs as a proxyDHCP server.
func (s *Server) ProxyMode() bool { return s.comp().proxy }

// proxyMetrics counts proxy replies by port and client kind.
type proxyMetrics struct{ replies *prometheus.CounterVec }

// proxyClientKinds bound the client label: policy kinds, "rule" for a
// bootfile set by a rule only, "other" for a host's bootfile on an
// architecture the policy does not name.
var proxyClientKinds = []string{"bios", "efi32", "efi64", "arm64", "ipxe", "http", "rule", "other"}

func (s *Server) startProxy(store *images.Store, reg prometheus.Registerer) error {
	s.px = &proxyMetrics{replies: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bootsrv_dhcp_proxy_replies_total",
		Help: "proxyDHCP offers and ACKs sent, by port (dhcp: 67, pxe: pxe_port) and client kind.",
	}, []string{"port", "client"})}
	if err := reg.Register(s.px.replies); err != nil {
		return fmt.Errorf("dhcp metrics: %w", err)
	}
	for _, port := range []string{"dhcp", "pxe"} {
		for _, k := range proxyClientKinds {
			s.px.replies.WithLabelValues(port, k)
		}
	}
	s.warnMissingBootfiles(store)
	s.log.Info().Str("interface", s.comp().cfg.Interface).Str("server_ip", s.serverIP.String()).
		Int("pxe_port", s.comp().cfg.PXEPort).Msg("dhcp proxy mode: boot information only, no addresses, no lease file")
	return nil
}

// checkProxy refuses settings that would hand out addresses in proxy mode,
// and a proxy with nothing to tell.
func (c Config) checkProxy() error {
	if len(c.Pools) > 0 {
		return cfgerr.Errorf("pools", "proxy mode hands out no addresses (the segment's DHCP server does); remove pools or use mode: server")
	}
	for i, h := range c.Hosts {
		if h.IP != "" {
			return cfgerr.Errorf(fmt.Sprintf("hosts[%d].ip", i), "proxy mode hands out no addresses; keep only boot settings")
		}
	}
	if c.PXEPort != -1 && (c.PXEPort < 1 || c.PXEPort > 65535) {
		return cfgerr.Errorf("pxe_port", "must be 1-65535, or -1 to not open it")
	}
	if c.PXEPort == c.Port {
		return cfgerr.Errorf("pxe_port", "must differ from port (%d)", c.Port)
	}
	b := c.Boot
	if b.BIOS != "" || b.EFI32 != "" || b.EFI64 != "" || b.ARM64 != "" || b.IPXE != "" || b.HTTP != "" {
		return nil
	}
	for _, r := range c.Rules {
		if r.Bootfile != "" {
			return nil
		}
	}
	for _, h := range c.Hosts {
		if h.Bootfile != "" || h.IPXE != "" {
			return nil
		}
	}
	return cfgerr.Errorf("boot", "proxy mode has nothing to tell: set a bootfile (boot.bios, boot.efi64, boot.ipxe, boot.http, ...)")
}

// answerProxy is answer in proxy mode: it queues the reply, if any, on
// out and says whether it did.
func (s *Server) answerProxy(w *work, mt dhcpv4.MessageType, facts clientFacts, log zerolog.Logger, out *outbox) bool {
	req := &w.req
	_, onPXE := out.conn.(pxePortConn)
	port := "dhcp"
	if onPXE {
		port = "pxe"
	}
	rt, why := proxyReplyType(mt, onPXE)
	if why == "" && !isBootClient(req.ClassIdentifier()) {
		why = "not_pxe"
	}
	if sid := ipOf(req.ServerIdentifier()); why == "" && mt == dhcpv4.MessageTypeRequest &&
		sid != s.serverIP && (sid.IsValid() || !onPXE) {
		// On 67 a request is ours only when it names us; a PXE port
		// request is sent to us, and may omit the id.
		why = "other_server"
	}
	var resp *dhcpv4.DHCPv4
	kind, decided := "", ""
	if why == "" {
		resp, kind, decided, why = s.proxyReply(req, rt)
	}
	if resp == nil {
		s.m.drop(why)
		log.Debug().Str("port", port).Str("type", typeName(mt)).Str("reason", why).Msg("proxy: not answered")
		return false
	}
	dst := replyAddr(req, resp, s.bcast, s.relayPort, s.clientPort)
	if onPXE {
		dst = pxeReplyAddr(w.peer, s.bcast.AsSlice())
	}
	if s.redirect != nil {
		dst = s.redirect(dst)
	}
	w.reply(resp, dst, facts, decided, log)
	w.proxy = proxyReply{port: port, kind: kind, rt: rt}
	out.add(w)
	return true
}

// proxyReply is what the log line and metrics of a sent proxy reply say;
// the zero value in server mode.
type proxyReply struct {
	port, kind string
	rt         dhcpv4.MessageType
}

// proxySent records a proxy reply once it has gone, or why it did not.
func (s *Server) proxySent(w *work) {
	if w.sendErr != nil {
		s.m.drop("send_failed")
		w.log.Warn().Err(w.sendErr).Str("to", w.dst.String()).Msg("dhcp proxy reply not sent")
		return
	}
	px, resp := w.proxy, w.resp
	s.m.replies.WithLabelValues(typeName(px.rt)).Inc()
	s.px.replies.WithLabelValues(px.port, px.kind).Inc()
	w.log.Info().Str("port", px.port).Str("reply", typeName(px.rt)).Str("client", px.kind).
		Str("bootfile", string(resp.Options.Get(dhcpv4.OptionBootfileName))).Str("decided_by", w.decided).
		Str("next_server", resp.ServerIPAddr.String()).Str("to", w.dst.String()).Msg("proxy reply")
	s.answered(&w.req, resp, w.facts, w.decided, zerolog.Nop()) // logged above already
}

// proxyReplyType is the reply to a message of type mt, or a drop reason.
func proxyReplyType(mt dhcpv4.MessageType, onPXE bool) (dhcpv4.MessageType, string) {
	switch {
	case mt == dhcpv4.MessageTypeDiscover && !onPXE:
		return dhcpv4.MessageTypeOffer, ""
	case mt == dhcpv4.MessageTypeRequest, mt == dhcpv4.MessageTypeInform && onPXE:
		return dhcpv4.MessageTypeAck, ""
	}
	return 0, "unexpected_type"
}

// isBootClient: only PXE firmware, iPXE (which also says PXEClient) and
// UEFI HTTP boot clients look at proxy replies (PXE 2.1 §2; UEFI 2.5
// §24.7). Anyone else could take an offer without address for a real one.
func isBootClient(vc string) bool {
	return len(vc) >= 9 && vc[:9] == "PXEClient" || len(vc) >= 10 && vc[:10] == "HTTPClient"
}

// pxeReplyAddr is where a PXE port reply goes: back to the request's source
// (PXE 2.1 §2); broadcast to the same port when it had no address yet.
func pxeReplyAddr(peer net.Addr, bcast net.IP) *net.UDPAddr {
	ua, ok := peer.(*net.UDPAddr)
	if !ok {
		return &net.UDPAddr{IP: bcast, Port: 68}
	}
	if ua.IP == nil || ua.IP.IsUnspecified() {
		return &net.UDPAddr{IP: bcast, Port: ua.Port}
	}
	return ua
}
