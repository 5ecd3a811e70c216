package main

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
)

// sweepInterval is how often the store is swept: a twelfth of the partial
// upload time to live, so an expired partial goes within about 8% of it,
// but not more often than a minute (a sweep walks the whole tree) nor less
// than hourly. The default 24h gives 1h.
func sweepInterval(ttl time.Duration) time.Duration {
	return min(max(ttl/12, time.Minute), time.Hour)
}

// sweeper removes what interrupted uploads left in the store (see
// images.Store.Sweep), counting and logging what it did.
type sweeper struct {
	store  *images.Store
	log    zerolog.Logger
	swept  *prometheus.CounterVec
	errors prometheus.Counter
}

func newSweeper(store *images.Store, log zerolog.Logger, reg prometheus.Registerer) (*sweeper, error) {
	sw := &sweeper{
		store: store,
		log:   log.With().Str("service", "images").Logger(),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_images_swept_total",
			Help: "Files interrupted uploads left in the image store and sweeps removed, by kind (temp: temporary upload files; partial: resumable uploads past ftp.partial_ttl).",
		}, []string{"kind"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bootsrv_images_sweep_errors_total",
			Help: "Sweeps of the image store that met an error (the rest of the store was still swept).",
		}),
	}
	for _, c := range []prometheus.Collector{sw.swept, sw.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	sw.swept.WithLabelValues("temp")
	sw.swept.WithLabelValues("partial")
	return sw, nil
}

// sweep runs one sweep.
func (sw *sweeper) sweep() {
	res, err := sw.store.Sweep()
	sw.swept.WithLabelValues("temp").Add(float64(res.Temp))
	sw.swept.WithLabelValues("partial").Add(float64(res.Partial))
	if err != nil {
		sw.errors.Inc()
		sw.log.Warn().Err(err).Msg("sweeping the image store")
	}
	if res.Temp+res.Partial > 0 {
		sw.log.Info().Int("temp", res.Temp).Int("partial", res.Partial).Msg("removed what interrupted uploads left")
	}
}

// run sweeps on every tick until ctx ends.
func (sw *sweeper) run(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			sw.sweep()
		}
	}
}

// startSweeper sweeps the store once now, before any service runs, when
// every temporary upload file is a leftover of an earlier process, and
// then every sweepInterval(ttl) until ctx ends. The function it returns
// stops the sweeps and waits for one in progress.
func startSweeper(ctx context.Context, store *images.Store, ttl time.Duration, log zerolog.Logger, reg prometheus.Registerer) (stop func()) {
	sw, err := newSweeper(store, log, reg)
	if err != nil {
		log.Error().Err(err).Msg("image store sweeper not started")
		return func() {}
	}
	sw.sweep()
	ctx, cancel := context.WithCancel(ctx)
	t := time.NewTicker(sweepInterval(ttl))
	var wg sync.WaitGroup
	wg.Go(func() { sw.run(ctx, t.C) })
	return func() {
		cancel()
		wg.Wait()
		t.Stop()
	}
}
