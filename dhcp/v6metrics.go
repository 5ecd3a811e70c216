package dhcp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The label values of the DHCPv6 metrics, every one created at start so
// that rates and alerts see a series from the first scrape.
var (
	types6 = []string{"solicit", "advertise", "request", "confirm", "renew", "rebind", "reply", "release", "decline",
		"reconfigure", "information-request", "relay-forw", "relay-repl", "other"}
	dropReasons6 = []string{"malformed", "busy", "panic", "rate_limited", "global_rate_limited", "unknown_client",
		"other_server", "unexpected_type", "no_pool", "nothing_to_confirm", "send_failed", "commit_failed", "store_unavailable"}
	statuses6 = []string{"success", "no_addrs_avail", "no_binding", "not_on_link", "no_prefix_avail"}
)

type metrics6 struct {
	messages, replies, drops, status *prometheus.CounterVec
	// byType and byStatus are the messages and status counters resolved
	// once, so the hot path does no label lookup.
	byType        map[string]prometheus.Counter
	byStatus      map[string]prometheus.Counter
	commit, batch prometheus.Histogram
	storeErrors   *prometheus.CounterVec
	conflicts     prometheus.Counter
	readErrors    *prometheus.CounterVec
	ra            *prometheus.CounterVec
}

func newMetrics6(reg prometheus.Registerer, s *Server6) (*metrics6, error) {
	m := &metrics6{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcpv6_messages_total", Help: "DHCPv6 messages received, by message type (the client's, inside any relay messages).",
		}, []string{"type"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcpv6_replies_total", Help: "DHCPv6 replies sent, by message type (advertise or reply, inside any relay-repl).",
		}, []string{"type"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcpv6_drops_total", Help: "DHCPv6 messages dropped without reply, by reason.",
		}, []string{"reason"}),
		status: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcpv6_ia_status_total",
			Help: "Identity associations answered, by outcome: success (addresses given or ended), no_addrs_avail, no_binding, not_on_link, no_prefix_avail (IA_PD is not served).",
		}, []string{"status"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bootsrv_dhcpv6_lease_commit_duration_seconds",
			Help:    "Time to make one group of DHCPv6 leases durable (one transaction and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bootsrv_dhcpv6_store_commit_batch_size",
			Help:    "Commits (one per identity association bound or ended) that shared one lease store transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcpv6_store_errors_total", Help: "DHCPv6 lease store operations that failed, by operation.",
		}, []string{"op"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_dhcpv6_store_conflicts_total",
			Help: "DHCPv6 leases the store refused because another client holds the address (another server committed it first).",
		}),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcpv6_read_errors_total",
			Help: "Failed reads on a DHCPv6 socket (dhcpv6: the server port, ra: the router advertisement socket), retried after a short backoff.",
		}, []string{"socket"}),
		ra: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcpv6_router_advertisements_total",
			Help: "Router advertisements sent (dhcpv6.router_advertisements), by reason: periodic, or solicited (answering a router solicitation).",
		}, []string{"reason"}),
	}
	storeUp := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bootsrv_dhcpv6_store_up",
		Help: "1 while the DHCPv6 lease store answers, 0 while it is unreachable (no lease is granted or renewed).",
	}, func() float64 {
		if s.Degraded() != "" {
			return 0
		}
		return 1
	})
	clients := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bootsrv_dhcpv6_rate_limit_clients",
		Help: "DHCPv6 clients tracked by the per-client rate limiter (bounded by rate_limit.clients).",
	}, func() float64 { return float64(s.limit.size()) })
	for _, c := range []prometheus.Collector{m.messages, m.replies, m.drops, m.status, m.commit, m.batch, m.storeErrors,
		m.conflicts, m.readErrors, m.ra, storeUp, clients, pool6Collector{s: s, descs: newPool6Descs()}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.byType, m.byStatus = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for _, t := range types6 {
		m.byType[t] = m.messages.WithLabelValues(t)
	}
	for _, t := range []string{"advertise", "reply"} {
		m.replies.WithLabelValues(t)
	}
	for _, r := range dropReasons6 {
		m.drops.WithLabelValues(r)
	}
	for _, st := range statuses6 {
		m.byStatus[st] = m.status.WithLabelValues(st)
	}
	for _, op := range []string{"commit"} {
		m.storeErrors.WithLabelValues(op)
	}
	for _, sock := range []string{"dhcpv6", "ra"} {
		m.readErrors.WithLabelValues(sock)
	}
	for _, r := range []string{"periodic", "solicited"} {
		m.ra.WithLabelValues(r)
	}
	return m, nil
}

func (m *metrics6) drop(reason string) { m.drops.WithLabelValues(reason).Inc() }

// ia counts one identity association answered with status st.
func (m *metrics6) ia(st string) { m.byStatus[st].Inc() }

func (m *metrics6) observeCommit(d time.Duration, commits int) {
	m.commit.Observe(d.Seconds())
	m.batch.Observe(float64(commits))
}

type pool6Descs struct{ inUse, size, offersHeld *prometheus.Desc }

func newPool6Descs() pool6Descs {
	pool := []string{"pool"}
	return pool6Descs{
		inUse: prometheus.NewDesc("bootsrv_dhcpv6_leases_in_use", "Active DHCPv6 leases, by pool subnet.", pool, nil),
		size: prometheus.NewDesc("bootsrv_dhcpv6_pool_size",
			"Addresses in the dynamic range, by pool subnet (a float: a range may hold 2^64).", pool, nil),
		offersHeld: prometheus.NewDesc("bootsrv_dhcpv6_offers_held", "Addresses held by outstanding ADVERTISEs, by pool subnet.", pool, nil),
	}
}

// pool6Collector reads per-pool figures from the table at scrape time.
type pool6Collector struct {
	s     *Server6
	descs pool6Descs
}

func (c pool6Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.descs.inUse
	ch <- c.descs.size
	ch <- c.descs.offersHeld
}

func (c pool6Collector) Collect(ch chan<- prometheus.Metric) {
	pools := c.s.comp().pools
	_, inUse, held := c.s.table.snapshot(pools, c.s.now())
	for _, p := range pools {
		ch <- prometheus.MustNewConstMetric(c.descs.inUse, prometheus.GaugeValue, float64(inUse[p]), p.name)
		ch <- prometheus.MustNewConstMetric(c.descs.size, prometheus.GaugeValue, rangeSize6(p), p.name)
		ch <- prometheus.MustNewConstMetric(c.descs.offersHeld, prometheus.GaugeValue, float64(held[p]), p.name)
	}
}

// rangeSize6 is the number of addresses in p's range, as a float.
func rangeSize6(p *pool6) float64 {
	if !p.first.IsValid() {
		return 0
	}
	a, b := p.first.As16(), p.last.As16()
	// last - first + 1, byte by byte from the most significant (a
	// byte's difference may be negative; the sum is right): exact up to
	// 2^53, close enough beyond.
	var size float64
	for i := range 16 {
		size = size*256 + float64(int(b[i])-int(a[i]))
	}
	return size + 1
}
