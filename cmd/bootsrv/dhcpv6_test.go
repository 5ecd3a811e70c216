package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// TestDHCPv6ConfigErrors: errors in the dhcpv6 section name the file,
// line and key, like every other section's.
func TestDHCPv6ConfigErrors(t *testing.T) {
	const head = "images:\n  root: ROOT\ndhcpv6:\n  mode: server\n  interface: eth9\n"
	for name, tc := range map[string]struct {
		body string
		want []string
	}{
		"proxy": {body: "images:\n  root: ROOT\ndhcpv6:\n  mode: proxy\n  interface: eth9\n",
			want: []string{":4:", "dhcpv6.mode", "proxyDHCPv6"}},
		"bad range": {body: head + "  pools:\n    - {subnet: \"fd00::/64\", range: \"fd01::1-fd01::9\"}\n",
			want: []string{":7:", "dhcpv6.pools[0].range"}},
		"v4 dns": {body: head + "  pools:\n    - subnet: \"fd00::/64\"\n      dns: [10.0.0.1]\n",
			want: []string{":8:", "dhcpv6.pools[0].dns[0]"}},
		"http name, http off": {body: "http:\n  listen: \"off\"\n" + head + "  pools: [{subnet: \"fd00::/64\"}]\n  boot: {http: ipxe.efi}\n",
			want: []string{":9:", "dhcpv6.boot.http", "http.listen is off"}},
		"one lease file for both": {body: head + "  lease_file: /tmp/l.db\n  pools: [{subnet: \"fd00::/64\"}]\n" +
			"dhcp:\n  mode: server\n  interface: eth9\n  server_ip: 10.0.0.1\n  lease_file: /tmp/l.db\n  pools: [{subnet: 10.0.0.0/24}]\n",
			want: []string{":6:", "dhcpv6.lease_file", "dhcp.lease_file"}},
	} {
		t.Run(name, func(t *testing.T) {
			file := writeConfig(t, tc.body)
			var out bytes.Buffer
			err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out)
			if err == nil {
				t.Fatalf("accepted:\n%s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestDHCPv6CheckOutput: bootsrv check says DHCPv6 runs, and hides a
// lease database password.
func TestDHCPv6CheckOutput(t *testing.T) {
	file := writeConfig(t, "images:\n  root: ROOT\ndhcpv6:\n  mode: server\n  interface: eth9\n"+
		"  lease_store: {type: postgres, dsn: \"host=db password=hunter2\"}\n  router_advertisements: true\n"+
		"  pools: [{subnet: \"fd00::/64\", range: \"fd00::100-fd00::1ff\"}]\n  boot: {efi64: snponly.efi, ipxe: boot.ipxe}\n")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", file}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "dhcpv6  server on eth9, leases in postgres") || !strings.Contains(out.String(), "router advertisements true") {
		t.Errorf("check output:\n%s", out.String())
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("check printed the DSN:\n%s", out.String())
	}
}

// TestDHCPv6URLsFromListenAddresses: boot names become URLs on the HTTP
// and TFTP ports the config listens on.
func TestDHCPv6URLsFromListenAddresses(t *testing.T) {
	file := writeConfig(t, "images:\n  root: ROOT\nhttp: {listen: \"[::]:8081\", images_path: /boot/}\ntftp: {listen: \":6969\"}\n")
	cfg, err := loadConfig(file, &serveFlags{set: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	dc := cfg.dhcpv6Config()
	if dc.HTTPPort != 8081 || dc.ImagesPath != "/boot/" || dc.TFTPPort != 6969 {
		t.Errorf("derived %d %q %d", dc.HTTPPort, dc.ImagesPath, dc.TFTPPort)
	}
}

// TestExplainV6: bootsrv explain -v6 says what a UEFI machine gets over
// DHCPv6 and that its boot file is in the store.
func TestExplainV6(t *testing.T) {
	file := writeConfig(t, "images:\n  root: ROOT\nhttp: {listen: \":8080\"}\ndhcpv6:\n  mode: server\n  interface: eth9\n  server_ip: \"fd00::1\"\n"+
		"  lease_file: "+filepath.Join(t.TempDir(), "l6.db")+"\n"+
		"  pools: [{subnet: \"fd00::/64\", range: \"fd00::100-fd00::1ff\"}]\n  boot: {efi64: snponly.efi, http: ipxe.efi}\n")
	root := filepath.Join(filepath.Dir(file), "images")
	if err := os.WriteFile(filepath.Join(root, "snponly.efi"), []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"pxe":  {[]string{"-arch", "efi64"}, []string{"dhcp: REPLY fd00::100", "boot: tftp://[fd00::1]/snponly.efi", "dhcpv6.boot.efi64", "bootfile tftp://[fd00::1]/snponly.efi: file, 2 bytes"}},
		"http": {[]string{"-arch", "http"}, []string{"http://[fd00::1]:8080/images/ipxe.efi", "dhcpv6.boot.http", "HTTPClient", "warning:"}},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			args := append([]string{"explain", "-v6", "-config", file, "-mac", "52:54:00:00:00:01"}, tc.args...)
			if err := run(context.Background(), args, nil, &out, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestReloadDHCPv6Keys: boot entries of the dhcpv6 section change live; its
// interface and router advertisements need a restart.
func TestReloadDHCPv6Keys(t *testing.T) {
	body := "images:\n  root: ROOT\ndhcpv6:\n  mode: server\n  interface: eth9\n  server_ip: \"fd00::1\"\n" +
		"  pools: [{subnet: \"fd00::/64\", range: \"fd00::100-fd00::1ff\"}]\n  boot: {efi64: snponly.efi}\n"
	file := writeConfig(t, body)
	fl := &serveFlags{configFile: file, set: map[string]string{}}
	cfg, err := loadConfig(file, fl)
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	part := livePart{keys: []string{"dhcpv6"}, prepare: func(c *Config) (func(), error) {
		if err := c.dhcpv6Config().Validate(); err != nil {
			return nil, err
		}
		return func() { applied++ }, nil
	}}
	r, err := newReloader(cfg, fl, []livePart{part}, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	next := strings.Replace(strings.Replace(string(data), "efi64: snponly.efi", "efi64: grubnetx64.efi", 1), "interface: eth9", "interface: eth8\n  router_advertisements: true", 1)
	if err := os.WriteFile(file, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	res := r.reload()
	if !res.OK || applied != 1 {
		t.Fatalf("reload: %+v, applied %d", res, applied)
	}
	if !slices.Equal(res.Changed, []string{"dhcpv6.boot.efi64"}) ||
		!slices.Equal(res.NeedsRestart, []string{"dhcpv6.interface", "dhcpv6.router_advertisements"}) {
		t.Errorf("changed %v, needs restart %v", res.Changed, res.NeedsRestart)
	}
}
