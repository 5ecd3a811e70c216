package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/netboot"
	"github.com/bootsrv/bootsrv/scripts"
	"github.com/bootsrv/bootsrv/timeline"
	"github.com/bootsrv/bootsrv/web"
)

const scriptsDHCP = `images:
  root: ROOT
dhcp:
  mode: server
  interface: eth9
  server_ip: 10.0.0.1
  pools:
    - {subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.200}
  hosts:
    - mac: "52:54:00:00:00:01"
      hostname: web1
      vars: {role: web, rack: 3}
    - {mac: "52:54:00:00:00:02", hostname: db1, vars: {role: db}}
scripts:
`

func TestScriptsConfigErrors(t *testing.T) {
	tests := map[string]struct {
		body string
		want []string // substrings; the first is the file:line suffix
	}{
		"misspelt field, literal block": {
			body: scriptsDHCP + "  - name: boot.ipxe\n    template: |\n      #!ipxe\n      echo {{.Hostnme}}\n",
			want: []string{":18: scripts[0].template:", "Hostnme", "template line 2"},
		},
		"var one host lacks": {
			body: scriptsDHCP + "  - name: boot.ipxe\n    template: |\n      #!ipxe\n      {{if .Known}}\n      chain {{.Vars.rack}}\n      {{end}}\n",
			want: []string{":19: scripts[0].template:", `no entry for key "rack"`, "dhcp.hosts[1] 52:54:00:00:00:02"},
		},
		"literal block followed by another script": {
			body: scriptsDHCP + "  - name: a\n    template: |\n      ok\n      {{.Bad}}\n  - name: b\n    template: x\n",
			want: []string{":18: scripts[0].template:", "Bad"},
		},
		"parse error, quoted": {
			body: scriptsDHCP + "  - name: a\n    template: \"{{if}}\"\n",
			want: []string{":16: scripts[0].template:", "missing value for if"},
		},
		"file relative to the config": {
			body: scriptsDHCP + "  - name: a\n    file: tmpl/none.ipxe\n",
			want: []string{":16: scripts[0].file:", "tmpl/none.ipxe"},
		},
		"no name": {
			body: scriptsDHCP + "  - template: x\n",
			want: []string{":15: scripts[0].name:", "required"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := writeConfig(t, tc.body)
			_, err := loadConfig(file, nil)
			if err == nil {
				t.Fatal("config accepted, want an error")
			}
			if !strings.HasPrefix(err.Error(), file+tc.want[0]) {
				t.Errorf("error %q does not start with %q", err, file+tc.want[0])
			}
			for _, w := range tc.want[1:] {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestScriptsConfig(t *testing.T) {
	file := writeConfig(t, scriptsDHCP+"  - name: boot.ipxe\n    file: boot.tmpl\n")
	tmpl := "#!ipxe\n{{if .Known}}echo {{.Hostname}} {{.Vars.role}} rack {{index .Vars \"rack\"}}{{else}}exit{{end}}\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "boot.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.scriptsConfig()
	if sc.Dir != filepath.Dir(file) || len(sc.Hosts) != 2 || sc.Hosts[0].Vars["rack"] != "3" || sc.Hosts[1].Key != "dhcp.hosts[1]" {
		t.Errorf("scripts config %+v", sc)
	}
	var out strings.Builder
	if err := runCheck([]string{"-config", file}, &out, &out); err != nil || !strings.Contains(out.String(), "scripts boot.ipxe") {
		t.Errorf("check: %v\n%s", err, out.String())
	}
}

// TestExampleScript renders the example config's boot.ipxe for its two
// reserved hosts and for an unknown machine.
func TestExampleScript(t *testing.T) {
	data, err := os.ReadFile("../../deploy/bootsrv.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(writeConfig(t, strings.Replace(string(data), "root: /srv/bootsrv/images", "root: ROOT", 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	scr, err := scripts.New(cfg.scriptsConfig(), zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for mac, want := range map[string]string{
		"52:54:00:12:34:56": "kernel http://10.0.0.1:8080/images/linux/vmlinuz role=web root=/dev/sda console=ttyS0\n",
		"52:54:00:12:34:57": "kernel http://10.0.0.1:8080/images/linux/vmlinuz role=db root=/dev/nvme0n1 console=ttyS0\n",
		"52:54:00:99:99:99": "echo Unknown machine 52:54:00:99:99:99: booting the installer menu\nchain http://10.0.0.1:8080/images/menu.ipxe\n",
	} {
		out, ok, err := scr.Render(scripts.Request{Name: "boot.ipxe", Protocol: "tftp", MAC: mac, Local: netip.MustParseAddr("10.0.0.1")})
		if err != nil || !ok || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v %v\n%s\nwant %q in it", mac, ok, err, out, want)
		}
	}
}

// TestScriptsAtImagesPath: boot scripts move with http.images_path, are
// found under non-canonical paths too, and .ImagesURL names the store's
// place on the HTTP server.
func TestScriptsAtImagesPath(t *testing.T) {
	for path, tc := range map[string]struct{ get, want string }{
		"/":          {get: "//boot.ipxe?mac=52:54:00:00:00:01", want: "chain http://ADDR/menu.ipxe role=web"},
		"/boot/efi/": {get: "/boot/./efi//boot.ipxe?mac=52:54:00:00:00:01", want: "chain http://ADDR/boot/efi/menu.ipxe role=web"},
		"/images/":   {get: "/images//boot.ipxe?mac=52:54:00:00:00:02", want: "chain http://ADDR/images/menu.ipxe role=db"},
	} {
		t.Run(path, func(t *testing.T) {
			body := strings.Replace(scriptsDHCP, "images:\n", "http:\n  images_path: "+path+"\nimages:\n", 1) +
				"  - name: boot.ipxe\n    template: \"#!ipxe\\nchain {{.ImagesURL}}/menu.ipxe role={{index .Vars \\\"role\\\"}}\\n\"\n"
			cfg, err := loadConfig(writeConfig(t, body), nil)
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()

			store, err := images.Open(cfg.Images.Root)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			layer, err := netboot.New(cfg.netbootConfig(), store, nil, nil, zerolog.Nop(), reg)
			if err != nil {
				t.Fatal(err)
			}
			addr := serveTestHTTP(t, cfg, layer, reg)
			code, loc, got := getNoRedirect(t, "http://"+addr+tc.get)
			if want := strings.ReplaceAll(tc.want, "ADDR", addr); code != 200 || !strings.Contains(got, want) {
				t.Errorf("GET %s: %d %q (Location %q), want %q", tc.get, code, got, loc, want)
			}
		})
	}
}

// serveTestHTTP runs the HTTP service as serve builds it (startHTTP) on
// 127.0.0.1:0 until the test ends.
func serveTestHTTP(t *testing.T, cfg *Config, layer *netboot.Layer, reg *prometheus.Registry) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health, err := web.NewHealth(nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := newReloader(cfg, &serveFlags{set: map[string]string{}}, nil, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := timeline.New(timeline.Config{}, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := startHTTP(cfg, ln, httpDeps{health: health, layer: layer, rec: rec, rl: rl}, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("http service: %v", err)
		}
		ln.Close()
	})
	return ln.Addr().String()
}

// getNoRedirect GETs url as written (Go's client does not clean paths) and
// returns the status, Location and body, without following redirects.
func getNoRedirect(t *testing.T, url string) (int, string, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}
