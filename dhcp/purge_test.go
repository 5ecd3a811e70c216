package dhcp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Ended leases stay for lease_retention (the client gets its address
// back), then purge deletes them from the store and the table; leases
// still running are kept.
func TestPurgeAfterRetention(t *testing.T) {
	cfg := testConfig(t)
	cfg.LeaseRetention = 2 * time.Hour
	ts := newTestServer(t, cfg)
	ts.dora("52:54:00:aa:10:01")

	// One hour lease; 90 minutes later it has ended but is retained.
	ts.clock = ts.clock.Add(90 * time.Minute)
	fresh := ts.dora("52:54:00:aa:10:02").YourIPAddr.String()
	ts.purge(context.Background())
	if n := len(ts.Leases()); n != 2 {
		t.Fatalf("purged inside retention: %d leases left, want 2", n)
	}
	// 3h10m after the first ACK the first lease ended 2h10m ago: gone.
	// The second (ends at 2h30m) is 40 minutes past its end: kept.
	ts.clock = ts.clock.Add(100 * time.Minute)
	ts.purge(context.Background())
	leases := ts.Leases()
	if len(leases) != 1 || leases[0].IP.String() != fresh {
		t.Fatalf("after purge: %+v, want only %s", leases, fresh)
	}
	if v := testutil.ToFloat64(ts.m.purged); v != 1 {
		t.Errorf("leases_purged_total = %v, want 1", v)
	}
	// The purge is durable: a server reopening the lease file agrees.
	ts.Close()
	ts2 := newTestServer(t, cfg)
	if got := ts2.Leases(); len(got) != 1 || got[0].IP.String() != fresh {
		t.Fatalf("after reopen: %+v", got)
	}
	// The purged client is served as a new one, from the pool.
	if ack := ts2.dora("52:54:00:aa:10:01"); ack == nil {
		t.Fatal("no lease for the purged client")
	}
}

func TestLeaseRetentionValidated(t *testing.T) {
	cfg := testConfig(t)
	cfg.LeaseRetention = 30 * time.Second
	if _, err := cfg.WithDefaults().compile(); err == nil || !strings.Contains(err.Error(), "lease_retention") {
		t.Fatalf("30s retention: %v", err)
	}
}
