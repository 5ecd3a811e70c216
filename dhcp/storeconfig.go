package dhcp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// LeaseStoreConfig is `dhcp.lease_store`: where a server-mode DHCP server
// keeps its leases.
type LeaseStoreConfig struct {
	// Type is "bbolt" (the file lease_file, for one server) or "postgres"
	// (a PostgreSQL database that several bootsrv servers share; see the
	// README, "Running more than one server"). Zero: bbolt.
	Type string `yaml:"type"`
	// DSN is the PostgreSQL connection string: libpq key=value
	// ("host=db1 dbname=bootsrv user=bootsrv") or a postgres:// URL. It is a
	// secret: it never appears in logs, `bootsrv check` output or any HTTP
	// answer. Set DSN or DSNFile, not both. Zero: DSNFile.
	DSN string `yaml:"dsn"`
	// DSNFile is a file holding the DSN (white space around it ignored),
	// read at start, so the password need not be in the config file.
	// Zero: DSN.
	DSNFile string `yaml:"dsn_file"`
	// ServerID names this server among those sharing the database: its
	// heartbeat row and the lease records it writes. Unique per server.
	// Zero: the server's address (server_ip).
	ServerID string `yaml:"server_id"`
	// Heartbeat is how often the server writes its heartbeat row, reads
	// which servers are alive and reads the lease records the others
	// wrote. Default 1s.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// PeerTimeout is how long a server's heartbeat may be missing before
	// the others answer its clients. Default 5s; at least twice Heartbeat.
	PeerTimeout time.Duration `yaml:"peer_timeout"`
}

// Lease store types.
const (
	StoreBolt     = "bbolt"
	StorePostgres = "postgres"
)

// shared reports whether the store is a database several servers share.
func (c LeaseStoreConfig) shared() bool { return c.Type == StorePostgres }

func (c LeaseStoreConfig) withDefaults() LeaseStoreConfig {
	if c.Type == "" {
		c.Type = StoreBolt
	}
	if c.shared() {
		if c.Heartbeat == 0 {
			c.Heartbeat = time.Second
		}
		if c.PeerTimeout == 0 {
			c.PeerTimeout = 5 * time.Second
		}
	}
	return c
}

// validateStore checks lease_file and lease_store (after WithDefaults).
func (c Config) validateStore() error {
	s := c.LeaseStore
	if c.Mode == "proxy" {
		// lease_file is ignored there, as it always was.
		if s != (LeaseStoreConfig{}) {
			return cfgerr.Errorf("lease_store", "proxy mode keeps no leases; remove lease_store")
		}
		return nil
	}
	return validateLeaseStore(c.LeaseFile, s)
}

// validateLeaseStore checks a server-mode section's lease_file and
// lease_store (after defaults).
func validateLeaseStore(leaseFile string, s LeaseStoreConfig) error {
	switch s.Type {
	case StoreBolt:
		if s.DSN != "" || s.DSNFile != "" || s.ServerID != "" || s.Heartbeat != 0 || s.PeerTimeout != 0 {
			return cfgerr.Errorf("lease_store.type", "dsn, dsn_file, server_id, heartbeat and peer_timeout are for type postgres")
		}
		return nil
	case StorePostgres:
	default:
		return cfgerr.Errorf("lease_store.type", "%q is not a lease store; use bbolt or postgres", s.Type)
	}
	if leaseFile != "" {
		return cfgerr.Errorf("lease_file", "is the bbolt lease store; with lease_store.type postgres leave it out")
	}
	switch {
	case s.DSN == "" && s.DSNFile == "":
		return cfgerr.Errorf("lease_store.dsn", "type postgres needs dsn or dsn_file")
	case s.DSN != "" && s.DSNFile != "":
		return cfgerr.Errorf("lease_store.dsn_file", "set dsn or dsn_file, not both")
	case s.DSN != "":
		if _, err := parseDSN(s.DSN); err != nil {
			return cfgerr.New("lease_store.dsn", err)
		}
	}
	if s.Heartbeat < 100*time.Millisecond {
		return cfgerr.Errorf("lease_store.heartbeat", "must be at least 100ms")
	}
	if s.PeerTimeout < 2*s.Heartbeat {
		return cfgerr.Errorf("lease_store.peer_timeout", "must be at least twice heartbeat (%s)", s.Heartbeat)
	}
	return nil
}

// dsn is the connection string, from DSN or read from DSNFile.
func (c LeaseStoreConfig) dsn() (string, error) {
	if c.DSNFile == "" {
		return c.DSN, nil
	}
	b, err := os.ReadFile(c.DSNFile)
	if err != nil {
		return "", cfgerr.New("lease_store.dsn_file", err)
	}
	dsn := strings.TrimSpace(string(b))
	if _, err := parseDSN(dsn); err != nil {
		return "", cfgerr.New("lease_store.dsn_file", fmt.Errorf("%s: %w", c.DSNFile, err))
	}
	return dsn, nil
}

// errNotPostgres is returned by Migrate for a config without a database.
var errNotPostgres = errors.New("dhcp.lease_store.type is not postgres: there is no lease schema to migrate")

// Migrate creates or upgrades the PostgreSQL lease schema that cfg names,
// as a server does at start (`bootsrv migrate`), and returns the schema
// versions before and after.
func Migrate(ctx context.Context, cfg Config) (from, to int, err error) {
	cfg = cfg.WithDefaults()
	if !cfg.LeaseStore.shared() || cfg.Mode != "server" {
		return 0, 0, errNotPostgres
	}
	dsn, err := cfg.LeaseStore.dsn()
	if err != nil {
		return 0, 0, err
	}
	conn, err := connect(ctx, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.Background())
	return migrateSchema(ctx, conn)
}

// ListLeases reads every lease record from the store cfg names without
// changing it: the lease file (ReadLeases) or the database, which a
// running server does not lock.
func ListLeases(ctx context.Context, cfg Config) ([]Lease, error) {
	cfg = cfg.WithDefaults()
	if !cfg.LeaseStore.shared() {
		return ReadLeases(cfg.LeaseFile)
	}
	dsn, err := cfg.LeaseStore.dsn()
	if err != nil {
		return nil, err
	}
	conn, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(ctx, "SELECT "+leaseCols+" FROM bootsrv_leases ORDER BY ip")
	leases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) { return scanLease(r) })
	if err != nil {
		return nil, fmt.Errorf("lease database: %w (has the schema been created? bootsrv migrate)", err)
	}
	return leases, nil
}

// connect opens one connection for a command-line tool.
func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	pc, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("lease database: %w", err)
	}
	return conn, nil
}
