package pgtest

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestClusterLifecycle: a cluster starts, keeps committed rows across a
// restart, and leaves nothing behind.
func TestClusterLifecycle(t *testing.T) {
	if why := Available(); why != "" {
		t.Skip(why)
	}
	c, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	ctx := context.Background()
	if err := c.CreateDB(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.DSN("t"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TABLE x (n int); INSERT INTO x VALUES (1)")
	if err := c.StopServer(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if err := c.StartServer(); err != nil {
		t.Fatal(err)
	}
	exec("DO $$ BEGIN IF (SELECT count(*) FROM x) <> 1 THEN RAISE 'row lost'; END IF; END $$")
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory left: %v", err)
	}
}
