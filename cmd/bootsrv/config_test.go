package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// writeConfig writes a config whose images.root is a fresh directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "images")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "bootsrv.yaml")
	body = strings.ReplaceAll(body, "ROOT", root)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	tests := map[string]struct {
		body string
		want []string // substrings of the error
	}{
		"unknown top-level key": {
			body: "images:\n  root: ROOT\nno_such_key: 1\n",
			want: []string{":3:", "no_such_key"},
		},
		"unknown nested key": {
			body: "images:\n  root: ROOT\ntftp:\n  timeout: 2s\n  blksize: 9\n",
			want: []string{":5:", "blksize"},
		},
		"bad duration": {
			body: "images:\n  root: ROOT\ntftp:\n  timeout: banana\n",
			want: []string{":4:", "timeout"},
		},
		"bad address": {
			body: "images:\n  root: ROOT\nhttp:\n  listen: nonsense\n",
			want: []string{":4:", "http.listen", "nonsense"},
		},
		"bad log level": {
			body: "images:\n  root: ROOT\nlog:\n  level: loud\n",
			want: []string{":4:", "log.level"},
		},
		"uploads escaping the store": {
			body: "images:\n  root: ROOT\n  uploads: ../x\n",
			want: []string{":3:", "images.uploads"},
		},
		"service section error": {
			body: "images:\n  root: ROOT\ntftp:\n  retries: -3\n",
			want: []string{":4:", "tftp.retries"},
		},
		"dhcp nested error": {
			body: "images:\n  root: ROOT\ndhcp:\n  mode: server\n  interface: eth9\n  pools:\n    - subnet: 10.0.0.0/24\n      range: 10.9.0.1-10.9.0.5\n",
			want: []string{"dhcp.pools[0]"},
		},
		"dhcp proxy with pools": {
			body: "images:\n  root: ROOT\ndhcp:\n  mode: proxy\n  interface: eth9\n  boot: {bios: undionly.kpxe}\n  pools:\n    - subnet: 10.0.0.0/24\n",
			want: []string{"dhcp.pools", "no addresses"},
		},
		"dhcp proxy pxe_port": {
			body: "images:\n  root: ROOT\ndhcp:\n  mode: proxy\n  interface: eth9\n  pxe_port: 67\n  boot: {bios: undionly.kpxe}\n",
			want: []string{":6:", "dhcp.pxe_port"},
		},
		"negative partial_ttl": {
			body: "images:\n  root: ROOT\nftp:\n  partial_ttl: -1h\n",
			want: []string{":4:", "ftp.partial_ttl", "negative"},
		},
		"uploads_readable not a bool": {
			body: "images:\n  root: ROOT\n  uploads_readable: sometimes\n",
			want: []string{":3:", "uploads_readable"},
		},
		"images_path without trailing slash": {
			body: "images:\n  root: ROOT\nhttp:\n  images_path: /images\n",
			want: []string{":4:", "http.images_path", "start and end with /"},
		},
		"images_path relative": {
			body: "images:\n  root: ROOT\nhttp:\n  listen: :8080\n  images_path: boot/\n",
			want: []string{":5:", "http.images_path"},
		},
		"images_path with dot dot": {
			body: "images:\n  root: ROOT\nhttp:\n  images_path: /a/../b/\n",
			want: []string{":4:", "http.images_path", ".."},
		},
		"images_path with empty component": {
			body: "images:\n  root: ROOT\nhttp:\n  images_path: /a//b/\n",
			want: []string{":4:", "http.images_path"},
		},
		"images_path with a query": {
			body: "images:\n  root: ROOT\nhttp:\n  images_path: /a?b/\n",
			want: []string{":4:", "http.images_path", "plain path characters"},
		},
		"images_path over the api": {
			body: "images:\n  root: ROOT\nhttp:\n  images_path: /api/v1/\n",
			want: []string{":4:", "http.images_path", "own route /api/"},
		},
		"images_path over the leases": {
			body: "images:\n  root: ROOT\nhttp:\n  images_path: /dhcp/\n",
			want: []string{":4:", "http.images_path", "own route /dhcp/leases"},
		},
		"images_path under metrics": {
			body: "images:\n  root: ROOT\nhttp:\n  images_path: /metrics/\n",
			want: []string{":4:", "http.images_path", "own route /metrics"},
		},
		"dhcp proxy without boot": {
			body: "images:\n  root: ROOT\ndhcp:\n  mode: proxy\n  interface: eth9\n",
			want: []string{"dhcp.boot", "nothing to tell"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := writeConfig(t, tc.body)
			_, err := loadConfig(file, nil)
			if err == nil {
				t.Fatal("config accepted, want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, file) {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestMissingRootIsReportedBeforeServing(t *testing.T) {
	file := writeConfig(t, "images:\n  root: /nonexistent/bootsrv\n")
	err := run(context.Background(), []string{"-config", file, "-tftp-addr", "127.0.0.1:0", "-ftp-addr", "off", "-http-addr", "off"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), file+":2: images.root") {
		t.Fatalf("serve with a missing root = %v, want an error naming %s:2: images.root", err, file)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out); err != nil {
		t.Fatalf("check with a missing root must warn, not fail: %v", err)
	}
	if !strings.Contains(out.String(), "warning") {
		t.Errorf("check output lacks a warning:\n%s", out.String())
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	// The example's images.root does not exist here; point it at a temp dir.
	data, err := os.ReadFile("../../deploy/bootsrv.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(data), "root: /srv/bootsrv/images", "root: ROOT", 1)
	cfg, err := loadConfig(writeConfig(t, body), nil)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if !cfg.DHCP.Enabled() || len(cfg.FTP.Users) != 1 || !cfg.DHCPv6.Enabled() || len(cfg.DHCPv6.Hosts) != 2 {
		t.Errorf("example config lost sections: dhcp enabled=%v users=%d dhcpv6 enabled=%v", cfg.DHCP.Enabled(), len(cfg.FTP.Users), cfg.DHCPv6.Enabled())
	}
	if cfg.Images.UploadsReadable || cfg.FTP.PartialTTL != 24*time.Hour {
		t.Errorf("example config: uploads_readable %v, partial_ttl %v; want the defaults false, 24h",
			cfg.Images.UploadsReadable, cfg.FTP.PartialTTL)
	}
	data, err = os.ReadFile("../../deploy/bootsrv-ha.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body = strings.Replace(string(data), "root: /srv/bootsrv/images", "root: ROOT", 1)
	if cfg, err = loadConfig(writeConfig(t, body), nil); err != nil {
		t.Fatalf("HA example config: %v", err)
	}
	if cfg.DHCP.LeaseStore.Type != "postgres" || cfg.DHCP.LeaseFile != "" {
		t.Errorf("HA example: lease_store %+v, lease_file %q", cfg.DHCP.LeaseStore, cfg.DHCP.LeaseFile)
	}
}

func TestFlagsOverrideAndAreNamedInErrors(t *testing.T) {
	file := writeConfig(t, "images:\n  root: ROOT\ntftp:\n  listen: \":6969\"\n")
	fl, err := parseServeFlags([]string{"-tftp-addr", "off", "-log-format", "console"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(file, fl)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TFTP.Listen != "off" || cfg.Log.Format != "console" {
		t.Errorf("flags not applied: tftp=%q format=%q", cfg.TFTP.Listen, cfg.Log.Format)
	}
	fl, _ = parseServeFlags([]string{"-ftp-addr", "banana"}, &bytes.Buffer{})
	_, err = loadConfig(file, fl)
	if err == nil || !strings.Contains(err.Error(), "-ftp-addr") {
		t.Errorf("bad flag value error = %v, want it to name -ftp-addr", err)
	}
}

func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	fl, _ := parseServeFlags([]string{"-root", dir}, &bytes.Buffer{})
	cfg, err := loadConfig("", fl)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DHCP.Enabled() || cfg.TFTP.AllowWrite || !cfg.FTP.Anonymous.IsEnabled() {
		t.Errorf("default must be read-only TFTP + anonymous FTP, no DHCP: %+v", cfg)
	}
	if cfg.TFTP.Listen == "" || cfg.FTP.Listen == "" || cfg.HTTP.Listen != ":8080" {
		t.Errorf("default listen addresses missing: %q %q %q", cfg.TFTP.Listen, cfg.FTP.Listen, cfg.HTTP.Listen)
	}
}

func TestCheckPrintsEffectiveSettings(t *testing.T) {
	file := writeConfig(t, "images:\n  root: ROOT\ntftp:\n  allow_write: true\n")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ok", "allow_write: true", "max_transfers: 2000", "dhcp    off"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCheckHidesPasswordHashes(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := writeConfig(t, "images:\n  root: ROOT\nftp:\n  users:\n    - {name: netops, password_hash: \""+string(hash)+"\", root: /}\n")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), string(hash)) || !strings.Contains(out.String(), "password_hash: (hidden)") {
		t.Errorf("check output must hide the hash:\n%s", out.String())
	}
}

func TestPasswdPrintsVerifiableHash(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"passwd"}, strings.NewReader("s3cret\n"), &out, &out); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
		t.Fatalf("hash %q does not verify: %v", hash, err)
	}
	if err := run(context.Background(), []string{"passwd"}, strings.NewReader("\n"), &out, &out); err == nil {
		t.Error("empty password accepted")
	}
}

// TestCheckProxyConfig: a proxy needs neither pools nor a lease file, and
// check says what it will do.
func TestCheckProxyConfig(t *testing.T) {
	file := writeConfig(t, "images:\n  root: ROOT\ndhcp:\n  mode: proxy\n  interface: eth9\n  server_ip: 10.0.0.5\n  boot: {bios: undionly.kpxe, ipxe: boot.ipxe}\n")
	cfg, err := loadConfig(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.DHCP.Enabled() || cfg.DHCP.LeaseFile != "" || cfg.DHCP.PXEPort != 4011 {
		t.Errorf("proxy config: enabled %v lease_file %q pxe_port %d", cfg.DHCP.Enabled(), cfg.DHCP.LeaseFile, cfg.DHCP.PXEPort)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dhcp    proxy on eth9", "pxe_port 4011", "pxe_port: 4011"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	err = run(context.Background(), []string{"leases", "-config", file}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "keeps no leases") {
		t.Errorf("leases with a proxy config: %v", err)
	}
}
