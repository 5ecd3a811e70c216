package dhcp

import (
	"context"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL lease schema, as numbered migrations (NNNN_name.sql)
// built into the binary. A migration is never edited once released; a
// change of schema is a new file.
//
//go:embed pgschema/*.sql
var pgSchema embed.FS

// schemaLock is the advisory lock key ("bootsrv" in ASCII) held while the
// schema is migrated.
const schemaLock = 0x626f6f74737276

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	files, err := pgSchema.ReadDir("pgschema")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		num, _, ok := strings.Cut(f.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", f.Name())
		}
		b, err := pgSchema.ReadFile(path.Join("pgschema", f.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: f.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// beginner is what migrateSchema needs of a connection or pool.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// migrateSchema brings the database's lease schema to the newest version
// this binary has, in one transaction under an advisory lock: servers
// starting together (or `bootsrv migrate` beside them) apply each
// migration exactly once, and a failed one leaves the schema as it was. It
// returns the versions before and after. A schema newer than the binary
// is an error: an older bootsrv must not write into it.
func migrateSchema(ctx context.Context, db beginner) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	latest := ms[len(ms)-1].version
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS bootsrv_schema (version integer NOT NULL)"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM bootsrv_schema").Scan(&from); err != nil {
			return err
		}
		if from > latest {
			return fmt.Errorf("lease schema is at version %d, newer than this bootsrv knows (%d): upgrade bootsrv", from, latest)
		}
		for _, m := range ms[from:] {
			// The simple protocol runs a file of several statements.
			if _, err := tx.Conn().PgConn().Exec(ctx, m.sql).ReadAll(); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		if from < latest {
			if _, err := tx.Exec(ctx, "DELETE FROM bootsrv_schema"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO bootsrv_schema (version) VALUES ($1)", latest); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("lease schema: %w", err)
	}
	return from, latest, nil
}
