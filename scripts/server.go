package scripts

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Server renders the configured scripts for the machines that ask.
type Server struct {
	cur      atomic.Pointer[compiled] // swapped whole by a reload
	log      zerolog.Logger
	renders  *prometheus.CounterVec
	sources  *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

// Label values of the metrics.
var (
	protocols = []string{"http", "tftp"}
	results   = []string{"ok", "error"}
	sources   = []string{"query", "lease", "arp", "none"}
)

// compiled is a checked Config in the form Render uses.
type compiled struct {
	cfg     Config
	scripts map[string]*script // by cleaned name
	byMAC   map[string]*Host   // reservations by MAC (net.HardwareAddr.String())
}

// prepare fills cfg's defaults and compiles it, parsing and
// test-executing every template.
func prepare(cfg Config) (*compiled, error) {
	cfg = cfg.WithDefaults()
	scripts, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	c := &compiled{cfg: cfg, scripts: scripts, byMAC: map[string]*Host{}}
	for i := range cfg.Hosts {
		h := &cfg.Hosts[i]
		if mac, err := net.ParseMAC(h.MAC); err == nil {
			c.byMAC[mac.String()] = h
		}
	}
	return c, nil
}

// New checks cfg (parsing and test-executing every template), fills its
// defaults and registers the metrics on reg.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	c, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{log: log,
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_scripts_renders_total",
			Help: "Boot scripts rendered for clients, by protocol and result (error: the template failed at run time).",
		}, []string{"protocol", "result"}),
		sources: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_scripts_identity_total",
			Help: "How the machine asking for a boot script was identified: ?mac= query, DHCP lease, neighbour (ARP) table, or none.",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_scripts_rejected_values_total",
			Help: "Client-supplied values left out of a boot script because they were not valid, by field (hostname: DHCP option 12 that is no RFC 1123 host name).",
		}, []string{"field"}),
	}
	s.rejected.WithLabelValues("hostname")
	for _, c := range []prometheus.Collector{s.renders, s.sources, s.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("scripts: metrics: %w", err)
		}
	}
	for _, p := range protocols {
		for _, r := range results {
			s.renders.WithLabelValues(p, r)
		}
	}
	for _, src := range sources {
		s.sources.WithLabelValues(src)
	}
	s.cur.Store(c)
	return s, nil
}

// PrepareReload checks cfg as New does and returns what swaps it in:
// renders already running finish with the scripts they started with.
// Nothing changes when it fails; apply cannot fail.
func (s *Server) PrepareReload(cfg Config) (apply func(), err error) {
	c, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	return func() { s.cur.Store(c) }, nil
}

// Preview is Render without its traces (log line, metrics, timeline
// event): what the script req names would be, for `bootsrv explain`.
func (s *Server) Preview(req Request) (data []byte, ok bool, err error) {
	data, _, sc, _, err := s.cur.Load().renderFor(req)
	return data, sc != nil, err
}

// renderFor identifies the machine req comes from and renders the script
// it names for it; sc is nil when the name is no script.
func (c *compiled) renderFor(req Request) (data []byte, name string, sc *script, m Machine, err error) {
	name, cerr := images.Clean(req.Name)
	sc = c.scripts[name]
	if cerr != nil || sc == nil {
		return nil, name, nil, m, nil
	}
	m, err = c.identify(req)
	if err == nil {
		m.Name, m.Protocol = name, req.Protocol
		data, err = sc.render(m)
	}
	return data, name, sc, m, err
}

// Config is the config in effect, defaults filled.
func (s *Server) Config() Config { return s.cur.Load().cfg }

// Names lists the script names, in config order.
func (s *Server) Names() []string {
	c := s.cur.Load()
	out := make([]string, len(c.scripts))
	for name, sc := range c.scripts {
		out[sc.index] = name
	}
	return out
}

// Request is one client asking for a script.
type Request struct {
	Name     string // as the client sent it
	Protocol string // "http" or "tftp"
	Local    netip.Addr
	Remote   netip.Addr
	MAC      string // ?mac=, empty when not given
	Arch     string // ?arch=, empty when not given
	// local is the HTTP connection's local address, for .HTTPBase.
	local netip.AddrPort
}

// Render renders the script req names for the machine that asks. ok is
// false when the name is no script. An error is a template failing at run
// time (or a ?mac= that is no MAC address).
func (s *Server) Render(req Request) (data []byte, ok bool, err error) {
	start := time.Now()
	c := s.cur.Load()
	data, name, sc, m, err := c.renderFor(req)
	if sc == nil {
		return nil, false, nil
	}
	result := "ok"
	ev := s.log.Info()
	if err != nil {
		result, ev = "error", s.log.Warn().Err(err)
	}
	s.renders.WithLabelValues(req.Protocol, result).Inc()
	s.sources.WithLabelValues(m.Source).Inc()
	if m.Rejected != "" {
		s.rejected.WithLabelValues(m.Rejected).Inc()
		ev = ev.Str("rejected", m.Rejected)
	}
	ev.Str("name", name).Str("protocol", req.Protocol).Str("ip", req.Remote.String()).Str("mac", m.MAC).
		Str("source", m.Source).Bool("known", m.Known).Str("arch", m.Arch).Int("bytes", len(data)).
		Dur("duration", time.Since(start)).Str("result", result).Msg("boot script rendered")
	if ev := c.cfg.Events; ev != nil {
		e := event.Event{IP: req.Remote, Service: event.Script, Kind: event.Render, Result: event.OK, File: name,
			Bytes: int64(len(data)), Duration: time.Since(start), Rule: fmt.Sprintf("scripts[%d]", sc.index)}
		if m.MAC != "" {
			e.MAC, _ = net.ParseMAC(m.MAC)
		}
		if err != nil {
			e.Result, e.Detail = event.Failed, err.Error()
		}
		ev.Record(e)
	}
	return data, true, err
}

// Handler serves scripts over HTTP behind http.StripPrefix, as the store's
// handler is: the remaining path is the name. Requests for other names go
// to next (nil: 404). Scripts are rendered per requester, so answers are
// marked not cacheable; HEAD and Range work as for files.
func (s *Server) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := Request{Name: r.URL.Path, Protocol: "http", MAC: r.URL.Query().Get("mac"), Arch: r.URL.Query().Get("arch")}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			req.Remote = ap.Addr().Unmap()
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(la.String()); err == nil {
				req.Local = ap.Addr().Unmap()
				req.local = netip.AddrPortFrom(req.Local, ap.Port())
			}
		}
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || strings.HasSuffix(r.URL.Path, "/") {
			s.pass(next, w, r)
			return
		}
		data, ok, err := s.Render(req)
		switch {
		case !ok:
			s.pass(next, w, r)
		case err != nil:
			http.Error(w, "boot script failed; see the server log", http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
		}
	})
}

func (s *Server) pass(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if next == nil {
		http.NotFound(w, r)
		return
	}
	next.ServeHTTP(w, r)
}
