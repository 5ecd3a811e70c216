package dhcp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/net/ipv6"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Server6 is a DHCPv6 server (RFC 8415). Create it with New6, run it with
// Serve (and, with router_advertisements, ServeRA), and Close it after
// Serve returns to release the lease store.
type Server6 struct {
	cur     atomic.Pointer[compiled6] // swapped whole by a reload (PrepareReload)
	running sync.WaitGroup
	log     zerolog.Logger
	events  event.Sink
	m       *metrics6
	store   LeaseStore
	health  *storeHealth // the PostgreSQL store's; nil for bbolt
	table   *table6
	limit   *limiter
	now     func() time.Time
	// sem bounds the requests being worked on (max_handlers); a request
	// waiting for its lease to be committed gives its slot back and takes
	// one of waiting instead (commitWaiting), so a slow disk holds up
	// REQUESTs but not the SOLICITs and RENEWs behind them.
	sem     chan struct{}
	waiting chan struct{}
	sample  *sampler
	// readSample is for read errors, which come in runs.
	readSample *sampler
	seen       sync.Map // netip.Addr -> int: option 61 of the last bound request (Client)

	serverIP netip.Addr
	serverID dhcpv6.Option // option 2: our DUID
	duid     []byte
	// redirect, set by tests, rewrites reply destinations.
	redirect func(netip.AddrPort) netip.AddrPort
}

// New6 checks cfg, opens the lease store (a locked or corrupt file is an
// error here, before any socket is used) and registers metrics on reg.
// store is used only to warn about bootfiles missing from it; it may be
// nil.
func New6(cfg Config6, store *images.Store, log zerolog.Logger, reg prometheus.Registerer) (*Server6, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	cfg = c.cfg
	if !cfg.Enabled() {
		return nil, errors.New("dhcpv6: not enabled (needs mode and interface)")
	}
	serverIP, hw := c.serverIP, interfaceHW(cfg.Interface)
	if !serverIP.IsValid() {
		if serverIP, err = interfaceAddr6(cfg.Interface); err != nil {
			return nil, cfgerr.New("server_ip", err)
		}
	}
	c.resolve(serverIP)
	s := &Server6{log: log, events: cfg.Events, now: time.Now, sem: make(chan struct{}, cfg.MaxHandlers),
		waiting: make(chan struct{}, maxCommitWaiters),
		sample:  &sampler{every: time.Second}, readSample: &sampler{every: time.Second}, serverIP: serverIP,
		limit: newLimiter(cfg.RateLimit)}
	s.duid = serverDUID(hw, serverIP)
	s.serverID = &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionServerID, OptionData: s.duid}
	s.cur.Store(c)
	s.table = newTable6(c, nil)
	if s.m, err = newMetrics6(reg, s); err != nil {
		return nil, fmt.Errorf("dhcpv6 metrics: %w", err)
	}
	if err := s.openStore(cfg); err != nil {
		return nil, err
	}
	s.warnMissingBootfiles(store)
	return s, nil
}

// openStore opens the lease store and loads the table from it.
func (s *Server6) openStore(cfg Config6) error {
	var leases []Lease
	if cfg.LeaseStore.shared() {
		dsn, err := cfg.LeaseStore.dsn()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := openPGStore(ctx, dsn, s.m.observeCommit)
		if err != nil {
			return cfgerr.New("lease_store", err)
		}
		if leases, err = st.List(ctx); err != nil {
			st.Close()
			return cfgerr.New("lease_store", err)
		}
		s.store, s.health = st, &st.health
	} else {
		st, err := openBoltStore(cfg.LeaseFile, time.Second, s.m.observeCommit)
		if err != nil {
			return cfgerr.New("lease_file", err)
		}
		if leases, err = st.List(context.Background()); err != nil {
			st.Close()
			return cfgerr.New("lease_file", err)
		}
		s.store = st
	}
	s.table = newTable6(s.comp(), leases)
	s.log.Info().Str("interface", cfg.Interface).Str("server_ip", s.serverIP.String()).Str("duid", fmt.Sprintf("%x", s.duid)).
		Int("leases", len(s.table.byIP)).Str("lease_store", cfg.LeaseStore.Type).Msg("dhcpv6 leases loaded")
	return nil
}

func (s *Server6) warnMissingBootfiles(store *images.Store) {
	if store == nil {
		return
	}
	b := s.comp().cfg.Boot
	for _, f := range []string{b.EFI64, b.ARM64, b.HTTP, b.IPXE} {
		if f == "" || strings.Contains(f, "://") || slices.Contains(s.comp().cfg.Scripts, f) {
			continue
		}
		if _, err := store.Stat(f); err != nil {
			s.log.Warn().Str("bootfile", f).Err(err).Msg("dhcpv6 bootfile not in the image store")
		}
	}
}

// comp is the compiled config in effect.
func (s *Server6) comp() *compiled6 { return s.cur.Load() }

// ServerIP is the address boot file URLs name.
func (s *Server6) ServerIP() netip.Addr { return s.serverIP }

// interfaceAddr6 is the first global (not link-local) IPv6 address of the
// named interface.
func interfaceAddr6(name string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %q: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %q: %w", name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() == nil {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.IsGlobalUnicast() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %q has no global IPv6 address; set server_ip", name)
}

// interfaceHW is the interface's hardware address, nil when it has none
// or does not exist.
func interfaceHW(name string) net.HardwareAddr {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	return ifi.HardwareAddr
}

// serverDUID is the server's DUID (RFC 8415 §11): DUID-LL of the
// interface's Ethernet address, which stays the same across restarts;
// without one, DUID-EN under the documentation enterprise number (RFC
// 5612) with an identifier drawn from the server's address.
func serverDUID(hw net.HardwareAddr, serverIP netip.Addr) []byte {
	if len(hw) == 6 {
		return (&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: hw}).ToBytes()
	}
	sum := sha256.Sum256(serverIP.AsSlice())
	return (&dhcpv6.DUIDEN{EnterpriseNumber: 32473, EnterpriseIdentifier: sum[:8]}).ToBytes()
}

// maxCommitWaiters bounds the requests waiting for a lease store commit
// at once, as maxBatch bounds a transaction.
const maxCommitWaiters = maxBatch

// allDHCP is All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
var allDHCP = net.ParseIP("ff02::1:2")

// Listen6 opens the server socket: UDP port on all IPv6 addresses, bound
// to one interface (SO_BINDTODEVICE), a member of ff02::1:2 there, where
// clients send.
func Listen6(ctx context.Context, iface string, port int) (net.PacketConn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = syscall.BindToDevice(int(fd), iface); serr != nil {
				return
			}
			if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, rcvBuf) != nil {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp6", fmt.Sprintf("[::]:%d", port))
	if err != nil {
		return nil, err
	}
	if err := ipv6.NewPacketConn(conn).JoinGroup(ifi, &net.UDPAddr{IP: allDHCP}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("join %s on %s: %w", allDHCP, iface, err)
	}
	return conn, nil
}

// Serve answers requests read from conn until ctx is cancelled, and
// returns once it has stopped reading; requests being answered run on,
// for Shutdown to wait for. It never closes conn.
func (s *Server6) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	go s.sweep(ctx)
	for {
		buf := make([]byte, 1500)
		n, peer, err := s.read(ctx, conn, buf)
		if err != nil || !peer.IsValid() {
			return err
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.m.drop("busy")
			continue
		}
		s.running.Go(func() {
			defer func() { <-s.sem }()
			s.handle(conn, peer, buf[:n], true)
		})
	}
}

// read reads the next datagram, passing over the deadline wakeups
// cancellation uses, and retrying other errors after a backoff (as the
// DHCPv4 server does). An invalid peer and nil error mean ctx is done.
func (s *Server6) read(ctx context.Context, conn net.PacketConn, buf []byte) (int, netip.AddrPort, error) {
	var backoff time.Duration
	uc, _ := conn.(*net.UDPConn)
	for {
		var n int
		var peer netip.AddrPort
		var err error
		if uc != nil {
			n, peer, err = uc.ReadFromUDPAddrPort(buf)
		} else {
			var a net.Addr
			if n, a, err = conn.ReadFrom(buf); err == nil {
				if ua, ok := a.(*net.UDPAddr); ok {
					peer = ua.AddrPort()
				}
				if !peer.IsValid() {
					continue // not UDP: nothing to answer
				}
			}
		}
		if err == nil {
			return n, peer, nil
		}
		if ctx.Err() != nil {
			return 0, netip.AddrPort{}, nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return 0, netip.AddrPort{}, fmt.Errorf("dhcpv6 read on %s: %w", conn.LocalAddr(), err)
		}
		s.m.readErrors.WithLabelValues("dhcpv6").Inc()
		backoff = min(max(2*backoff, readBackoffMin), readBackoffMax)
		if ok, n := s.readSample.allow(s.now()); ok {
			s.log.Warn().Err(err).Dur("retry_in", backoff).Int("suppressed", n).Msg("dhcpv6 read error; retrying")
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, netip.AddrPort{}, nil
		case <-t.C:
		}
	}
}

// Shutdown waits, until ctx is done, for the requests Serve took to be
// answered. Close conn only after it.
func (s *Server6) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sweep forgets expired offers now and then.
func (s *Server6) sweep(ctx context.Context) {
	t := time.NewTicker(s.comp().cfg.OfferTime)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.table.expireOffers(s.now())
		}
	}
}

// Close releases the lease store. Call it after Serve has returned.
func (s *Server6) Close() error { return s.store.Close() }

// Degraded says why DHCPv6 is not fully serving ("" when it is): the
// shared lease store is unreachable. For /healthz.
func (s *Server6) Degraded() string {
	if s.health != nil && s.health.unavailable() != "" {
		return "lease store unavailable"
	}
	return ""
}

// Leases lists the DHCPv6 leases the server knows, sorted by address.
func (s *Server6) Leases() []Lease {
	leases, _, _ := s.table.snapshot(nil, s.now())
	sort.Slice(leases, func(i, j int) bool { return leases[i].IP.Less(leases[j].IP) })
	return leases
}

// LeasesHandler serves the lease list as JSON, as Server.LeasesHandler.
func (s *Server6) LeasesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(s.Leases()); err != nil {
			s.log.Debug().Err(err).Msg("writing lease list")
		}
	})
}

// PrepareReload checks cfg as New6 does and returns what puts it into
// effect: pools, reservations, boot entries, preference, rapid commit,
// offer and decline times and known_clients_only apply to the messages
// after it. Leases stay as they are. What the server was built around
// keeps its running value (mode, interface, server_ip, port, the lease
// store, max_handlers, rate_limit, router_advertisements): the caller
// reports those as needing a restart. Nothing changes when it fails.
func (s *Server6) PrepareReload(cfg Config6) (apply func(), err error) {
	old := s.comp().cfg
	cfg.Mode, cfg.Interface, cfg.ServerIP, cfg.Port = old.Mode, old.Interface, old.ServerIP, old.Port
	cfg.LeaseFile, cfg.LeaseStore, cfg.MaxHandlers = old.LeaseFile, old.LeaseStore, old.MaxHandlers
	cfg.RateLimit, cfg.RouterAdvertisements, cfg.Events = old.RateLimit, old.RouterAdvertisements, old.Events
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	c.resolve(s.serverIP)
	return func() {
		s.table.reconfigure(c)
		s.cur.Store(c)
	}, nil
}
