package dhcp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestLeaseStoreConfig(t *testing.T) {
	const secret = "host=db1 dbname=bootsrv user=bootsrv password=s3cret"
	base := func() Config {
		var c Config
		if err := yaml.UnmarshalWithOptions([]byte(designYAML), &c, yaml.Strict()); err != nil {
			t.Fatal(err)
		}
		c.LeaseFile = ""
		c.LeaseStore = LeaseStoreConfig{Type: StorePostgres, DSN: secret}
		return c
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("postgres store: %v", err)
	}
	d := base().WithDefaults()
	if d.LeaseFile != "" || d.LeaseStore.Heartbeat != time.Second || d.LeaseStore.PeerTimeout != 5*time.Second {
		t.Errorf("postgres defaults: lease_file %q %+v", d.LeaseFile, d.LeaseStore)
	}
	if d := (Config{Mode: "server", Pools: []Pool{{}}}).WithDefaults(); d.LeaseStore != (LeaseStoreConfig{Type: StoreBolt}) || d.LeaseFile != DefaultLeaseFile {
		t.Errorf("bbolt defaults: lease_file %q %+v", d.LeaseFile, d.LeaseStore)
	}
	for name, tc := range map[string]struct {
		edit         func(c *Config)
		key, message string
	}{
		"unknown type":     {func(c *Config) { c.LeaseStore.Type = "mysql" }, "lease_store.type", "bbolt or postgres"},
		"lease_file too":   {func(c *Config) { c.LeaseFile = "/var/lib/x.db" }, "lease_file", "leave it out"},
		"no dsn":           {func(c *Config) { c.LeaseStore.DSN = "" }, "lease_store.dsn", "needs dsn or dsn_file"},
		"dsn and file":     {func(c *Config) { c.LeaseStore.DSNFile = "/etc/x" }, "lease_store.dsn_file", "not both"},
		"bad dsn":          {func(c *Config) { c.LeaseStore.DSN = "postgres://u:s3cret@[::1" }, "lease_store.dsn", "not a valid"},
		"bbolt with a dsn": {func(c *Config) { c.LeaseStore.Type = "" }, "lease_store.type", "for type postgres"},
		"peer timeout":     {func(c *Config) { c.LeaseStore.Heartbeat = 3 * time.Second }, "lease_store.peer_timeout", "twice heartbeat"},
		"proxy":            {func(c *Config) { c.Mode = "proxy"; c.Pools = nil; c.Hosts = nil }, "lease_store", "proxy mode keeps no leases"},
	} {
		c := base()
		tc.edit(&c)
		err := c.Validate()
		checkKeyError(t, name, err, tc.key, tc.message)
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}

func TestDSNFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pg-dsn")
	os.WriteFile(path, []byte("  host=/run/postgresql dbname=bootsrv password=s3cret\n"), 0o600)
	dsn, err := LeaseStoreConfig{Type: StorePostgres, DSNFile: path}.dsn()
	if err != nil || dsn != "host=/run/postgresql dbname=bootsrv password=s3cret" {
		t.Fatalf("dsn %q, %v", dsn, err)
	}
	os.WriteFile(path, []byte("postgres://u:s3cret@[::1\n"), 0o600)
	_, err = LeaseStoreConfig{Type: StorePostgres, DSNFile: path}.dsn()
	checkKeyError(t, "bad dsn file", err, "lease_store.dsn_file", "not a valid")
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
	_, err = LeaseStoreConfig{Type: StorePostgres, DSNFile: path + ".missing"}.dsn()
	checkKeyError(t, "missing dsn file", err, "lease_store.dsn_file", "no such file")
}
