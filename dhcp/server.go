package dhcp

import (
	"context"
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

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// Server is a DHCPv4 server. Create it with New, run it with Serve, and
// Close it after Serve returns to release the lease file.
type Server struct {
	cur     atomic.Pointer[compiled] // swapped whole by a reload (PrepareReload)
	running sync.WaitGroup           // handlers (and the sharing loop) Serve started
	log     zerolog.Logger
	events  event.Sink // Config.Events as New got it; nil: nobody
	m       *metrics
	store   LeaseStore
	share   *sharing // when several servers share the store (share.go)
	table   *leaseTable
	now     func() time.Time
	sem     chan struct{}
	sample  *sampler
	// readSample is for read errors, which come in runs (readPacket).
	readSample *sampler
	seen       sync.Map // netip.Addr -> int: option 93 of the last ACKed request (clients.go)
	shareOnce  sync.Once
	safety     *safety
	works      sync.Pool // *work, one per datagram being answered (outbox.go)
	replies    sync.Pool // *dhcpv4.DHCPv4 (newReply), given back with their works; starts empty
	// serverIDOption is option 54's value, serverIP; read only.
	serverIDOption []byte

	serverIP   netip.Addr
	bcast      netip.Addr    // where broadcast replies go: 255.255.255.255
	clientPort int           // RFC 2131 §4.1: clients listen on 68
	relayPort  int           // relays listen on the server port, 67
	px         *proxyMetrics // proxy mode only (proxy.go)
	// redirect, set by tests, rewrites reply destinations.
	redirect func(*net.UDPAddr) *net.UDPAddr
}

// New checks cfg, opens the lease file (a locked or corrupt file is an
// error here, before any socket is used) and registers metrics on reg.
// store is used only to warn about bootfiles missing from it; it may be nil.
func New(cfg Config, store *images.Store, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	cfg = c.cfg
	if !cfg.Enabled() {
		return nil, errors.New("dhcp: not enabled (needs mode and interface)")
	}
	if err := cfg.validateStore(); err != nil {
		return nil, err
	}
	serverIP := c.serverIP
	if !serverIP.IsValid() {
		if serverIP, err = interfaceAddr(cfg.Interface); err != nil {
			return nil, cfgerr.New("server_ip", err)
		}
	}
	s := &Server{log: log, now: time.Now, sem: make(chan struct{}, cfg.MaxHandlers),
		sample: &sampler{every: time.Second}, readSample: &sampler{every: time.Second}, serverIP: serverIP, bcast: netip.AddrFrom4([4]byte{255, 255, 255, 255}),
		clientPort: cfg.Port + 1, relayPort: cfg.Port, events: cfg.Events}
	s.works.New = func() any { return &work{} }
	s.serverIDOption = serverIP.AsSlice()
	s.cur.Store(c)
	s.table = newLeaseTable(c, nil)
	if s.m, err = newMetrics(reg, s); err != nil {
		return nil, fmt.Errorf("dhcp metrics: %w", err)
	}
	if s.safety, err = newSafety(s, reg); err != nil {
		return nil, err
	}
	if c.proxy {
		if err := s.startProxy(store, reg); err != nil {
			return nil, err
		}
		return s, nil
	}
	if cfg.LeaseStore.shared() {
		if err := s.openShared(cfg); err != nil {
			return nil, err
		}
		s.warnMissingBootfiles(store)
		return s, nil
	}
	st, err := openBoltStore(cfg.LeaseFile, time.Second, s.m.observeCommit)
	if err != nil {
		return nil, cfgerr.New("lease_file", err)
	}
	leases, err := st.List(context.Background())
	if err != nil {
		st.Close()
		return nil, cfgerr.New("lease_file", err)
	}
	s.store, s.table = st, newLeaseTable(c, leases)
	s.warnMissingBootfiles(store)
	log.Info().Str("interface", cfg.Interface).Str("server_ip", serverIP.String()).
		Int("leases", len(leases)).Str("lease_file", cfg.LeaseFile).Msg("dhcp leases loaded")
	return s, nil
}

func (s *Server) warnMissingBootfiles(store *images.Store) {
	if store == nil {
		return
	}
	b := s.comp().boot
	for _, f := range []string{b.bios, b.efi32, b.efi64, b.arm64, b.ipxe} {
		if f == "" || strings.Contains(f, "://") || slices.Contains(s.comp().cfg.Scripts, f) {
			continue
		}
		if _, err := store.Stat(f); err != nil {
			s.log.Warn().Str("bootfile", f).Err(err).Msg("bootfile not in the image store")
		}
	}
}

// interfaceAddr is the first IPv4 address of the named interface.
func interfaceAddr(name string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %q: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %q: %w", name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok && n.IP.To4() != nil {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %q has no IPv4 address; set server_ip", name)
}

// ServerIP is the address the server identifies itself with (option 54).
func (s *Server) ServerIP() netip.Addr { return s.serverIP }

const rcvBuf = 4 << 20

// Listen opens the server socket: UDP port on all addresses, bound to one
// interface (SO_BINDTODEVICE) with SO_BROADCAST so replies to clients
// without an address can be broadcast on that interface (RFC 2131 §4.1).
func Listen(ctx context.Context, iface string, port int) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1); serr != nil {
				return
			}
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = syscall.BindToDevice(int(fd), iface); serr != nil {
				return
			}
			// A large receive buffer absorbs bursts (many clients booting
			// at once) while handlers wait for a group commit. FORCE
			// passes net.core.rmem_max when we have CAP_NET_ADMIN.
			if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, rcvBuf) != nil {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", port))
}

// Serve answers requests read from conn until ctx is cancelled, and
// returns once it has stopped reading; requests being answered run on, for
// Shutdown to wait for. It never closes conn.
//
// One goroutine reads conn, several datagrams per system call when conn
// is a *net.UDPConn (recvmmsg), answers them one after the other and
// sends the replies of one read together (sendmmsg). A REQUEST's lease is
// committed in the background, in the lease file's next group commit, and
// its ACK goes out from the committer with the other ACKs of that
// transaction, once the lease is on disk: no goroutine per request waits
// for the disk. RELEASE and DECLINE, and every message when several
// servers share a PostgreSQL store (which server answers may take a
// query), get a goroutine of their own. max_handlers bounds the requests
// waiting for a commit.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	wg := &s.running
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	if !s.comp().proxy { // a proxy holds no offers; its two ports share Serve
		go s.sweep(ctx)
	}
	if s.share != nil {
		s.shareOnce.Do(func() { wg.Go(func() { s.shareLoop(ctx) }) })
	}
	sock := "dhcp"
	if _, ok := conn.(pxePortConn); ok {
		sock = "pxe"
	}
	r := newPacketReader(conn)
	out, acks := s.newOutbox(conn), s.ackOutbox(conn)
	for {
		n, err := s.readSome(ctx, r, sock)
		if err != nil || n == 0 {
			return err
		}
		for i := range n {
			s.dispatch(s.newWork(r.datagram(i)), out, acks)
		}
		out.flush()
	}
}

// ackOutbox is where the ACKs of REQUESTs read from conn go once their
// leases are committed, used by the lease store's committer goroutine
// only; nil when the store cannot commit in the background (proxy mode
// has none; a shared store is waited for on goroutines of their own).
func (s *Server) ackOutbox(conn net.PacketConn) *outbox {
	if _, ok := s.store.(asyncStore); !ok || s.share != nil || s.comp().proxy {
		return nil
	}
	return s.newOutbox(conn)
}

// dispatch answers w with answer, its reply going on out, or hands it to
// a goroutine of its own when answering it may wait for the lease store.
func (s *Server) dispatch(w *work, out, acks *outbox) {
	if !s.decode(w) {
		s.release(w)
		return
	}
	if !s.waitsForStore(&w.req, acks != nil) {
		if !s.answer(w, out, acks) {
			s.release(w)
		}
		return
	}
	if !s.tryHandler() {
		s.release(w)
		return
	}
	go func() {
		defer s.handlerDone()
		s.answerNow(s.newOutbox(out.conn), w)
	}()
}

// waitsForStore says whether answering req may wait for the lease store
// (async: REQUESTs can commit in the background): every message when
// several servers share a database (which server answers a client may
// take a query), the messages that commit leases otherwise. A proxy has
// no store.
func (s *Server) waitsForStore(req *dhcpv4.DHCPv4, async bool) bool {
	if s.comp().proxy {
		return false
	}
	if s.share != nil {
		return true
	}
	switch msgType(req) {
	case dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeDecline:
		return true
	case dhcpv4.MessageTypeRequest:
		return !async
	}
	return false
}

// Shutdown waits, until ctx is done, for the requests Serve took to be
// answered (their replies go out on the socket Serve was handed, so close
// it only after Shutdown). It returns ctx's error when some were still
// being answered.
func (s *Server) Shutdown(ctx context.Context) error {
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
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(s.comp().cfg.OfferTime)
	defer t.Stop()
	purge := time.NewTicker(purgeEvery)
	defer purge.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.table.expireOffers(s.now())
		case <-purge.C:
			s.purge(ctx)
		}
	}
}

// purgeEvery is how often lease records past lease_retention are deleted.
const purgeEvery = 10 * time.Minute

// purge deletes the lease records that ended more than lease_retention
// ago, from the store and the table, so that a segment with many passing
// clients does not grow its lease file (or table) without bound. Servers
// sharing a store each purge it; deleting twice is harmless.
func (s *Server) purge(ctx context.Context) {
	before := s.now().Add(-s.comp().cfg.LeaseRetention)
	n, err := s.store.Expire(ctx, before)
	if err != nil {
		s.m.storeError("expire")
		s.log.Warn().Err(err).Msg("dhcp: old lease records not purged; retrying later")
		return
	}
	s.table.forget(before)
	if n > 0 {
		s.m.purged.Add(float64(n))
		s.log.Info().Int("records", n).Time("ended_before", before).Msg("dhcp: old lease records purged")
	}
}

// Close releases the lease file. Call it after Serve has returned.
func (s *Server) Close() error {
	if s.store == nil { // proxy mode keeps no lease file
		return nil
	}
	return s.store.Close()
}

// Leases lists all leases known to the server, sorted by address.
func (s *Server) Leases() []Lease {
	leases, _ := s.table.snapshot(nil, s.now())
	sort.Slice(leases, func(i, j int) bool { return leases[i].IP.Less(leases[j].IP) })
	return leases
}

// LeasesHandler serves the lease list as JSON (what `bootsrv leases`
// prints), for the HTTP server to mount, e.g. at /dhcp/leases. It is the
// way to read leases while the server holds the lease file.
func (s *Server) LeasesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(s.Leases()); err != nil {
			s.log.Debug().Err(err).Msg("writing lease list")
		}
	})
}

// sampler lets one log line through per interval, counting the rest.
type sampler struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines were suppressed
// since the last one.
func (sm *sampler) allow(now time.Time) (bool, int) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if now.Sub(sm.last) < sm.every {
		sm.suppressed++
		return false, 0
	}
	n := sm.suppressed
	sm.last, sm.suppressed = now, 0
	return true, n
}
