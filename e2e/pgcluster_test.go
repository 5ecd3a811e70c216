package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bootsrv/bootsrv/internal/pgtest"
)

// startPostgres runs a throwaway PostgreSQL server (internal/pgtest: as
// the postgres user, on a Unix socket in a temporary directory, which
// every network namespace reaches) with an empty database "bootsrv". It
// is removed at cleanup; one left by a killed run is swept at the next
// start.
func startPostgres(t *testing.T) *pgtest.Cluster {
	t.Helper()
	requireRoot(t)
	if why := pgtest.Available(); why != "" {
		if strictE2E() {
			t.Fatalf("BOOTSRV_E2E=1 but %s", why)
		}
		t.Skip(why)
	}
	c, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Remove(); err != nil {
			t.Errorf("removing the PostgreSQL cluster: %v", err)
		}
	})
	if err := c.CreateDB(context.Background(), "bootsrv"); err != nil {
		t.Fatal(err)
	}
	return c
}

// sqlRows runs a query on the bootsrv database and returns each row's
// columns as text.
func sqlRows(t *testing.T, c *pgtest.Cluster, query string, args ...any) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("bootsrv"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// metricIn reads one series from the /metrics of a bootsrv running in
// namespace ns, 0 when absent.
func metricIn(t *testing.T, ns string, p *bootsrvProc, series string) float64 {
	t.Helper()
	body, _ := httpIn(t, ns, p, "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// httpIn GETs path from a bootsrv running in namespace ns and returns
// the body and status code.
func httpIn(t *testing.T, ns string, p *bootsrvProc, path string) (string, int) {
	t.Helper()
	argv := inNetns(ns, "curl", "-sS", "-w", "\n%{http_code}", "http://"+p.Addr("http")+path)
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	var code int
	fmt.Sscan(s[i+1:], &code)
	return s[:i], code
}
