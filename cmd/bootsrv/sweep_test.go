package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
)

// leftover writes a hidden file as an interrupted upload leaves it, aged.
func leftover(t *testing.T, root, name string, age time.Duration) string {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-age)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

func gone(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
}

// TestSweeper: the start-up sweep removes every temporary upload file and
// expired partials before anything is served; later ones run on each tick.
func TestSweeper(t *testing.T) {
	root := t.TempDir()
	temp := leftover(t, root, "incoming/.bootsrv-up-0011", 0)
	old := leftover(t, root, "up/.bootsrv-part-0022", 2*time.Hour)
	fresh := leftover(t, root, "up/.bootsrv-part-0033", 0)
	store, err := images.Open(root, images.Options{PartialTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	stop := startSweeper(ctx, store, time.Hour, zerolog.Nop(), reg)
	gone(t, temp, old) // before startSweeper returned
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a resumable partial was swept: %v", err)
	}
	stop()
	cancel()

	// Periodic sweeps, on a tick the test controls.
	sw, err := newSweeper(store, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tick := make(chan time.Time)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go sw.run(ctx, tick)
	later := leftover(t, root, "incoming/.bootsrv-up-0044", 0)
	if err := os.Chtimes(fresh, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	tick <- time.Now()
	tick <- time.Now() // taken once the first sweep is done
	gone(t, later, fresh)
	if got := testutil.ToFloat64(sw.swept.WithLabelValues("temp")); got != 1 {
		t.Errorf("swept{temp} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(sw.swept.WithLabelValues("partial")); got != 1 {
		t.Errorf("swept{partial} = %v, want 1", got)
	}
}

func TestSweepInterval(t *testing.T) {
	for ttl, want := range map[time.Duration]time.Duration{
		24 * time.Hour:   time.Hour,
		6 * time.Hour:    30 * time.Minute,
		time.Minute:      time.Minute,
		1000 * time.Hour: time.Hour,
	} {
		if got := sweepInterval(ttl); got != want {
			t.Errorf("sweepInterval(%v) = %v, want %v", ttl, got, want)
		}
	}
}
