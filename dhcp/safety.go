package dhcp

import (
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// safety is the server's protection against floods, unknown clients and
// other servers: rate limits (limit.go), the held-offer cap (offercap.go)
// and rogue-server detection (rogue.go).
type safety struct {
	limit  *limiter
	rogue  *rogueDetector
	sample *sampler // its own, so floods do not hide other warnings
	// probeDst, set by tests, replaces the broadcast destination of probes.
	probeDst *net.UDPAddr
}

// safetyDefaults fills the safety keys of c (called by WithDefaults).
func (c Config) safetyDefaults() Config {
	c.RateLimit = c.RateLimit.withDefaults()
	c.RogueDetection = c.RogueDetection.withDefaults(c.Mode == "proxy")
	if c.OfferHoldPercent == 0 {
		c.OfferHoldPercent = 50
	}
	return c
}

// validateSafety checks the safety keys of a defaulted c.
func (c Config) validateSafety() error {
	if err := c.RateLimit.validate(); err != nil {
		return err
	}
	if c.OfferHoldPercent < 1 || c.OfferHoldPercent > 100 {
		return cfgerr.Errorf("offer_hold_percent", "must be 1-100")
	}
	r := c.RogueDetection
	if r.ProbeInterval < 0 || r.ProbeInterval > 0 && r.ProbeInterval < time.Second {
		return cfgerr.Errorf("rogue_detection.probe_interval", "must be 0 (off) or at least 1s")
	}
	if r.Window < time.Second {
		return cfgerr.Errorf("rogue_detection.window", "must be at least 1s")
	}
	if r.ProbeInterval > 0 && !*r.Listen {
		return cfgerr.Errorf("rogue_detection.probe_interval", "probes need rogue_detection.listen to hear the answers")
	}
	_, err := parseAddrs("rogue_detection.known_servers", r.KnownServers)
	return err
}

func newSafety(s *Server, reg prometheus.Registerer) (*safety, error) {
	cfg := s.comp().cfg
	rd, err := newRogueDetector(s.serverIP, cfg.RogueDetection)
	if err != nil {
		return nil, err
	}
	sf := &safety{limit: newLimiter(cfg.RateLimit), rogue: rd, sample: &sampler{every: time.Second}}
	for _, c := range []prometheus.Collector{
		rd.count,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bootsrv_dhcp_other_servers",
			Help: "Distinct other DHCP server ids seen in the last rogue_detection.window.",
		}, func() float64 { return float64(rd.active(s.now())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bootsrv_dhcp_rate_limit_clients",
			Help: "Clients tracked by the per-client rate limiter (bounded by rate_limit.clients).",
		}, func() float64 { return float64(sf.limit.size()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_offers_unheld_total",
			Help: "OFFERs made without holding the address because the pool's offer_hold_percent was reached.",
		}, func() float64 { _, n := s.table.heldOffers(); return float64(n) }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return sf, nil
}

// dropped counts a drop by the safety layer and logs it, sampled.
func (sf *safety) dropped(m *metrics, reason string, now time.Time, log zerolog.Logger) {
	m.drop(reason)
	if ok, n := sf.sample.allow(now); ok {
		log.Warn().Str("reason", reason).Int("suppressed", n).Msg("dhcp message dropped")
	}
}
