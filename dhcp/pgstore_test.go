package dhcp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/internal/pgtest"
)

// The package's tests share one PostgreSQL server, started by the first
// test that needs one and removed when they are done.
var (
	pgOnce    sync.Once
	pgCluster *pgtest.Cluster
	pgErr     error
	pgDBs     atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgCluster != nil {
		pgCluster.Remove()
	}
	os.Exit(code)
}

// testDSN creates an empty database for t and returns its connection
// string, skipping the test where PostgreSQL cannot run.
func testDSN(t testing.TB) string {
	t.Helper()
	if why := pgtest.Available(); why != "" {
		t.Skip(why)
	}
	pgOnce.Do(func() { pgCluster, pgErr = pgtest.Start() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	name := fmt.Sprintf("t%d", pgDBs.Add(1))
	if err := pgCluster.CreateDB(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return pgCluster.DSN(name)
}

// pgOpener is the PostgreSQL entry of stores: a fresh database per test.
func pgOpener(t *testing.T) opener {
	dsn := testDSN(t)
	return func(t *testing.T, observe func(time.Duration, int)) LeaseStore {
		t.Helper()
		st, err := openPGStore(bg, dsn, observe)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

// TestPGMigrateConcurrently: servers starting together migrate the
// schema once between them, and again is a no-op.
func TestPGMigrateConcurrently(t *testing.T) {
	dsn := testDSN(t)
	ms, _ := migrations()
	latest := ms[len(ms)-1].version
	const n = 6
	froms := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := openPGStore(bg, dsn, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			from, to, err := migrateSchema(bg, st.pool)
			if err != nil || to != latest || from != latest {
				t.Errorf("migrate after open: %d -> %d, %v", from, to, err)
			}
			froms[i] = from
		}()
	}
	wg.Wait()
	st, err := openPGStore(bg, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var versions int
	if err := st.pool.QueryRow(bg, "SELECT count(*) FROM bootsrv_schema").Scan(&versions); err != nil || versions != 1 {
		t.Errorf("bootsrv_schema has %d rows, %v", versions, err)
	}
}

// TestPGTwoServersNeverShareAnAddress: clients of two servers, each with
// its own connections, race for few addresses; the database gives each
// address to one of them.
func TestPGTwoServersNeverShareAnAddress(t *testing.T) {
	dsn := testDSN(t)
	var srv [2]*pgStore
	for i := range srv {
		st, err := openPGStore(bg, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		srv[i] = st
	}
	const addrs, clients = 16, 200
	var mu sync.Mutex
	won := map[string][]string{}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hw := fmt.Sprintf("52:54:00:00:03:%02x", i)
			c := bindChange(addr(0x0a000300+uint32(i%addrs)).String(), hw, time.Hour)
			c.Lease.Server = fmt.Sprint("s", i%2)
			err := srv[i%2].Commit(bg, storeNow, c)
			var te *TakenError
			switch {
			case err == nil:
				mu.Lock()
				won[c.Lease.IP.String()] = append(won[c.Lease.IP.String()], hw)
				mu.Unlock()
			case errors.As(err, &te):
				if te.Holder.MAC == hw || te.Holder.Expiry.IsZero() {
					t.Errorf("%s lost %v to %+v", hw, c.Lease.IP, te.Holder)
				}
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	leases, _ := srv[0].List(bg)
	if len(leases) != addrs {
		t.Errorf("%d records, want %d", len(leases), addrs)
	}
	for _, l := range leases {
		if w := won[l.IP.String()]; len(w) != 1 || w[0] != l.MAC {
			t.Errorf("%v: record of %s, successful commits by %v", l.IP, l.MAC, w)
		}
	}
}

// TestPGStoreUnavailable: with the database down a commit fails as
// unavailable and says so; when it is back the store reconnects by itself.
func TestPGStoreUnavailable(t *testing.T) {
	st := pgOpener(t)(t, nil).(*pgStore)
	defer st.Close()
	if err := st.Commit(bg, storeNow, bindChange("10.0.0.60", "52:54:00:00:04:01", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := pgCluster.StopServer(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			pgCluster.StartServer()
		}
	}()
	err := st.Commit(bg, storeNow, bindChange("10.0.0.61", "52:54:00:00:04:02", time.Hour))
	if !errors.Is(err, ErrStoreUnavailable) || st.health.unavailable() == "" {
		t.Fatalf("commit with the database down: %v (unavailable: %q)", err, st.health.unavailable())
	}
	if _, _, err := st.ByAddr(bg, netip4("10.0.0.60")); !errors.Is(err, ErrStoreUnavailable) {
		t.Errorf("lookup with the database down: %v", err)
	}
	if err := pgCluster.StartServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	if err := st.Commit(ctx, storeNow, bindChange("10.0.0.61", "52:54:00:00:04:02", time.Hour)); err != nil {
		t.Fatalf("commit after the restart: %v", err)
	}
	if why := st.health.unavailable(); why != "" {
		t.Errorf("still unavailable: %s", why)
	}
	if leases, err := st.List(bg); err != nil || len(leases) != 2 {
		t.Errorf("after the restart: %d leases, %v", len(leases), err)
	}
}

// TestPGMigrateKeepsV1Leases: a database at schema version 1 (before
// DHCPv6) is upgraded in place: its DHCPv4 leases stay as they were.
func TestPGMigrateKeepsV1Leases(t *testing.T) {
	dsn := testDSN(t)
	conn, err := connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	ms, err := migrations()
	if err != nil || len(ms) < 2 {
		t.Fatalf("migrations: %d, %v", len(ms), err)
	}
	for _, q := range []string{"CREATE TABLE bootsrv_schema (version integer NOT NULL)", "INSERT INTO bootsrv_schema VALUES (1)"} {
		if _, err := conn.Exec(bg, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.PgConn().Exec(bg, ms[0].sql).ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(bg, `INSERT INTO bootsrv_leases (ip, client, mac, expiry, txid) VALUES ('10.0.0.7', 'h1', '52:54:00:00:00:07', $1, 1)`,
		storeNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	from, to, err := migrateSchema(bg, conn)
	if err != nil || from != 1 || to != len(ms) {
		t.Fatalf("migrate: %d -> %d, %v", from, to, err)
	}
	st, err := openPGStore(bg, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, ok, err := st.ByAddr(bg, netip4("10.0.0.7"))
	if err != nil || !ok || l.MAC != "52:54:00:00:00:07" || l.DUID != "" || l.IAID != 0 {
		t.Errorf("v1 lease after the upgrade: %+v %v %v", l, ok, err)
	}
}
