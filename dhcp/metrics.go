package dhcp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages *prometheus.CounterVec
	replies  *prometheus.CounterVec
	drops    *prometheus.CounterVec
	rules    *prometheus.CounterVec
	commit   prometheus.Histogram
	// batch, storeErrors and conflicts describe the lease store.
	batch       prometheus.Histogram
	storeErrors *prometheus.CounterVec
	conflicts   prometheus.Counter
	// purged counts lease records deleted after lease_retention (purge).
	purged prometheus.Counter
	// readErrors counts failed socket reads, retried (server.go readPacket).
	readErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_messages_total", Help: "DHCP messages received, by message type.",
		}, []string{"type"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_replies_total", Help: "DHCP replies sent, by message type.",
		}, []string{"type"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_drops_total", Help: "DHCP messages dropped without reply, by reason.",
		}, []string{"reason"}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_rule_matches_total",
			Help: "OFFERs and ACKs a zero-touch provisioning rule applied to, by rule index in the config.",
		}, []string{"rule"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bootsrv_dhcp_lease_commit_duration_seconds",
			Help:    "Time to make one group of leases durable (one transaction and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bootsrv_dhcp_store_commit_batch_size",
			Help:    "Commits (one per ACK, RELEASE or DECLINE) that shared one lease store transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_store_errors_total",
			Help: "Lease store operations that failed, by operation (commit, lookup, heartbeat, sync, expire).",
		}, []string{"op"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_store_conflicts_total",
			Help: "Leases the store refused because another client holds the address (another server committed it first).",
		}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_leases_purged_total",
			Help: "Ended lease records deleted from the lease store after dhcp.lease_retention.",
		}),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_dhcp_read_errors_total",
			Help: "Failed reads on a DHCP socket (dhcp: the server port, pxe: pxe_port, client: the rogue-detection listener), retried after a short backoff.",
		}, []string{"socket"}),
	}
	storeUp := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bootsrv_dhcp_store_up",
		Help: "1 while the lease store answers, 0 while it is unreachable (no lease is granted or renewed).",
	}, func() float64 {
		if s.Degraded() != "" {
			return 0
		}
		return 1
	})
	alive := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bootsrv_dhcp_servers_alive",
		Help: "Servers sharing the lease store whose heartbeat is fresh, this one included (1 with the bbolt store).",
	}, func() float64 {
		if s.share == nil {
			return 1
		}
		return float64(s.share.aliveCount())
	})
	for _, c := range []prometheus.Collector{m.messages, m.replies, m.drops, m.rules, m.commit, m.readErrors, newPoolCollector(s),
		m.batch, m.storeErrors, m.conflicts, m.purged, storeUp, alive} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, sock := range []string{"dhcp", "pxe", "client"} {
		m.readErrors.WithLabelValues(sock)
	}
	for _, op := range []string{"commit", "lookup", "heartbeat", "sync", "expire"} {
		m.storeErrors.WithLabelValues(op)
	}
	return m, nil
}

func (m *metrics) drop(reason string) { m.drops.WithLabelValues(reason).Inc() }

// observeCommit records one lease store transaction: its duration and
// how many commits shared it.
func (m *metrics) observeCommit(d time.Duration, commits int) {
	m.commit.Observe(d.Seconds())
	m.batch.Observe(float64(commits))
}

func (m *metrics) storeError(op string) { m.storeErrors.WithLabelValues(op).Inc() }

// poolCollector reads per-pool figures from the lease table at scrape
// time: leases in use, range size, and addresses held by offers.
type poolCollector struct {
	s                       *Server
	inUse, size, offersHeld *prometheus.Desc
}

func newPoolCollector(s *Server) poolCollector {
	pool := []string{"pool"}
	return poolCollector{s: s,
		inUse: prometheus.NewDesc("bootsrv_dhcp_leases_in_use", "Active leases, by pool subnet.", pool, nil),
		size:  prometheus.NewDesc("bootsrv_dhcp_pool_size", "Addresses in the dynamic range, by pool subnet.", pool, nil),
		offersHeld: prometheus.NewDesc("bootsrv_dhcp_offers_held",
			"Addresses of the dynamic range held by outstanding OFFERs, by pool subnet.", pool, nil),
	}
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.inUse
	ch <- c.size
	ch <- c.offersHeld
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	_, inUse := c.s.table.snapshot(c.s.comp().pools, c.s.now())
	held, _ := c.s.table.heldOffers()
	for _, p := range c.s.comp().pools {
		size := 0
		if p.first <= p.last {
			size = int(p.last - p.first + 1)
		}
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(inUse[p]), p.name)
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(size), p.name)
		ch <- prometheus.MustNewConstMetric(c.offersHeld, prometheus.GaugeValue, float64(held[p]), p.name)
	}
}
