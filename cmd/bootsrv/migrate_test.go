package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bootsrv/bootsrv/internal/pgtest"
)

const pgDHCP = `images:
  root: ROOT
dhcp:
  mode: server
  interface: eth9
  server_ip: 10.0.0.1
  pools:
    - {subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.200}
  lease_store:
    type: postgres
`

// TestCheckHidesLeaseDSN: check says where leases go, never the
// connection string; a bad one is reported by key without it.
func TestCheckHidesLeaseDSN(t *testing.T) {
	const dsn = "host=db1 dbname=bootsrv user=bootsrv password=s3cret"
	file := writeConfig(t, pgDHCP+"    dsn: \""+dsn+"\"\n    server_id: dhcp-a\n")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"leases in postgres, dsn in the config file (hidden); server_id dhcp-a", "dsn: (hidden)", "peer_timeout: 5s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "s3cret") || strings.Contains(out.String(), "db1") {
		t.Errorf("check output shows the dsn:\n%s", out.String())
	}

	dsnFile := filepath.Join(t.TempDir(), "pg-dsn")
	os.WriteFile(dsnFile, []byte(dsn), 0o600)
	file = writeConfig(t, pgDHCP+"    dsn_file: "+dsnFile+"\n")
	out.Reset()
	if err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "dsn from "+dsnFile) || strings.Contains(out.String(), "s3cret") {
		t.Errorf("check output with dsn_file:\n%s", out.String())
	}

	file = writeConfig(t, pgDHCP+"    dsn: \"postgres://u:s3cret@[::1\"\n")
	_, err := loadConfig(file, nil)
	if err == nil || !strings.Contains(err.Error(), ":11: dhcp.lease_store.dsn") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad dsn: %v", err)
	}
	file = writeConfig(t, pgDHCP+"    dsn: x\n  lease_file: /var/lib/l.db\n")
	if _, err := loadConfig(file, nil); err == nil || !strings.Contains(err.Error(), ":12: dhcp.lease_file") {
		t.Errorf("lease_file beside postgres: %v", err)
	}
}

// TestMigrateAndLeasesOnPostgres: `bootsrv migrate` creates the schema
// once, and `bootsrv leases` reads the database.
func TestMigrateAndLeasesOnPostgres(t *testing.T) {
	if why := pgtest.Available(); why != "" {
		t.Skip(why)
	}
	c, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove() })
	ctx := context.Background()
	if err := c.CreateDB(ctx, "bootsrv"); err != nil {
		t.Fatal(err)
	}
	file := writeConfig(t, pgDHCP+"    dsn: \""+c.DSN("bootsrv")+"\"\n")
	var out bytes.Buffer
	for _, want := range []string{"lease schema migrated from version 0 to 2", "lease schema at version 2: nothing to do"} {
		out.Reset()
		if err := run(ctx, []string{"migrate", "-config", file}, nil, &out, &out); err != nil || !strings.Contains(out.String(), want) {
			t.Fatalf("migrate: %v %q, want %q", err, out.String(), want)
		}
	}
	conn, err := pgx.Connect(ctx, c.DSN("bootsrv"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO bootsrv_leases (ip, client, mac, expiry, server, txid)
		VALUES ('10.0.0.100', '\x68', '52:54:00:00:00:01', now() + interval '1 hour', 'dhcp-a', 1)`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"leases", "-config", file}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "SERVER") || !strings.Contains(out.String(), "10.0.0.100") || !strings.Contains(out.String(), "dhcp-a") {
		t.Errorf("leases:\n%s", out.String())
	}
}
