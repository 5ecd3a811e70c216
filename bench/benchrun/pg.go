package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bootsrv/bootsrv/internal/pgtest"
)

// setupPG starts the run's PostgreSQL server (internal/pgtest: as the
// postgres user, on a Unix socket in a temporary directory, which both
// namespaces reach), with a database for each server: bootsrv's schema
// by `bootsrv migrate`, Kea's by `kea-admin db-init pgsql`.
func (e *env) setupPG() error {
	e.logf("starting PostgreSQL 15 (%s)", pgtest.Bin)
	c, err := pgtest.Start()
	if err != nil {
		return err
	}
	e.pg = c
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	for _, db := range []string{"bootsrv", "kea"} {
		if err := c.CreateDB(ctx, db); err != nil {
			return err
		}
	}
	conf := filepath.Join(e.work, "bootsrv-migrate.yaml")
	if err := os.WriteFile(conf, []byte("log: {level: warn}\n"+e.bootsrvDHCP(true)), 0o644); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, e.bin, "migrate", "-config", conf).CombinedOutput(); err != nil {
		return fmt.Errorf("bootsrv migrate: %v: %s", err, out)
	}
	out, err := exec.CommandContext(ctx, "kea-admin", "db-init", "pgsql", "-u", "postgres", "-n", "kea",
		"-h", c.Dir, "-P", fmt.Sprint(pgtest.Port)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kea-admin db-init pgsql: %v: %s", err, out)
	}
	return nil
}

// resetPG empties both servers' lease tables, so every step starts from
// an empty database, and lets PostgreSQL reclaim the deleted rows.
func (e *env) resetPG() error {
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	for db, sqls := range map[string][]string{
		"bootsrv": {"TRUNCATE bootsrv_leases, bootsrv_servers"},
		// DELETE, not TRUNCATE: Kea's triggers keep lease4_stat in step.
		"kea": {"DELETE FROM lease4", "VACUUM lease4"},
	} {
		conn, err := pgx.Connect(ctx, e.pg.DSN(db))
		if err != nil {
			return err
		}
		for _, sql := range sqls {
			if _, err := conn.Exec(ctx, sql); err != nil {
				conn.Close(ctx)
				return fmt.Errorf("%s: %s: %w", db, sql, err)
			}
		}
		conn.Close(ctx)
	}
	return nil
}

// needsPG reports whether a selected row keeps leases in PostgreSQL.
func needsPG(rows []*row) bool {
	for _, r := range rows {
		if r.pg {
			return true
		}
	}
	return false
}
