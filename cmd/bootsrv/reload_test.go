package main

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// reloadFixture is a reloader over a config file the test rewrites, with
// two fake live parts that record what they were asked and applied.
type reloadFixture struct {
	file    string
	r       *reloader
	applied []string
	fail    map[string]error // part key -> its prepare error
}

func newReloadFixture(t *testing.T, body string) *reloadFixture {
	t.Helper()
	f := &reloadFixture{file: writeConfig(t, body), fail: map[string]error{}}
	cfg, err := loadConfig(f.file, &serveFlags{configFile: f.file, set: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	part := func(key string) livePart {
		return livePart{keys: []string{key}, prepare: func(*Config) (func(), error) {
			if err := f.fail[key]; err != nil {
				return nil, err
			}
			return func() { f.applied = append(f.applied, key) }, nil
		}}
	}
	f.r, err = newReloader(cfg, &serveFlags{configFile: f.file, set: map[string]string{}},
		[]livePart{part("tftp"), part("ftp")}, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *reloadFixture) rewrite(t *testing.T, old, new string) {
	t.Helper()
	data, err := os.ReadFile(f.file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(f.file, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

const reloadBase = `images:
  root: ROOT
tftp:
  listen: 127.0.0.1:0
  max_transfers: 100
ftp:
  listen: 127.0.0.1:0
  users:
    - {name: netops, password_hash: "$2a$10$C6UzMDM.H6dfI/f/IKxGhu8GqXqUMQ3YdMq9Z3Zs4WzBd4jY8r5Si", write: true}
`

// TestReloadAppliesAllOrNothing: a config refused by the file or by any
// part applies nothing; an accepted one applies every part and says which
// keys changed and which need a restart.
func TestReloadAppliesAllOrNothing(t *testing.T) {
	f := newReloadFixture(t, reloadBase)
	f.rewrite(t, "max_transfers: 100", "max_transfers: 50\n  retries: 7")
	f.fail["ftp"] = errors.New("ftp says no")
	if res := f.r.reload(); res.OK || !strings.Contains(res.Error, "ftp says no") || len(f.applied) != 0 {
		t.Fatalf("a part refused: %+v, applied %v", res, f.applied)
	}
	if got := testutil.ToFloat64(f.r.ok); got != 0 {
		t.Fatalf("last_reload_successful = %v after a refusal", got)
	}
	delete(f.fail, "ftp")
	f.rewrite(t, "users:", "users:\n    - {name: ops2, password_hash: \"$2a$10$C6UzMDM.H6dfI/f/IKxGhu8GqXqUMQ3YdMq9Z3Zs4WzBd4jY8r5Si\"}")
	f.rewrite(t, "listen: 127.0.0.1:0\n  max", "listen: 127.0.0.1:6999\n  max")
	res := f.r.reload()
	if !res.OK {
		t.Fatalf("refused: %s", res.Error)
	}
	if !slices.Equal(f.applied, []string{"tftp", "ftp"}) {
		t.Errorf("applied %v, want every part once", f.applied)
	}
	for _, k := range []string{"tftp.max_transfers", "tftp.retries", "ftp.users"} {
		if !slices.Contains(res.Changed, k) {
			t.Errorf("changed %v lacks %s", res.Changed, k)
		}
	}
	if !slices.Equal(res.NeedsRestart, []string{"tftp.listen"}) {
		t.Errorf("needs_restart %v, want [tftp.listen]", res.NeedsRestart)
	}
	if !slices.Contains(res.Summary, "ftp.users: 1 added, 0 removed (2 now)") {
		t.Errorf("summary %v", res.Summary)
	}
	for _, k := range res.Changed {
		if strings.Contains(k, "$2a$") {
			t.Errorf("a changed key shows a value: %q", k)
		}
	}
	if got := testutil.ToFloat64(f.r.ok); got != 1 {
		t.Fatalf("last_reload_successful = %v after a reload", got)
	}
	// A key that needs a restart is reported until the process restarts,
	// also by a later reload that changes nothing else.
	f.applied = nil
	res = f.r.reload()
	if !res.OK || len(res.Changed) != 0 || !slices.Equal(res.NeedsRestart, []string{"tftp.listen"}) {
		t.Errorf("second reload: %+v", res)
	}
}

// TestReloadRefusesABadFile: the same file:line: key errors as bootsrv
// check, and the counters say so.
func TestReloadRefusesABadFile(t *testing.T) {
	f := newReloadFixture(t, reloadBase)
	f.rewrite(t, "max_transfers: 100", "max_transfers: -4")
	res := f.r.reload()
	if res.OK || !strings.Contains(res.Error, ":5: tftp.max_transfers") {
		t.Fatalf("reload of a bad file: %+v", res)
	}
	if got := testutil.ToFloat64(f.r.total.WithLabelValues("error")); got != 1 {
		t.Errorf("reloads_total{error} = %v", got)
	}
}

func TestHTTPListenOf(t *testing.T) {
	file := writeConfig(t, "images:\n  root: ROOT\nhttp:\n  listen: 127.0.0.1:9999\nbogus: 1\n")
	if got, err := httpListenOf(file); err != nil || got != "127.0.0.1:9999" {
		t.Errorf("httpListenOf = %q, %v", got, err)
	}
	if got, err := httpListenOf(""); err != nil || got != ":8080" {
		t.Errorf("embedded default: %q, %v", got, err)
	}
}
