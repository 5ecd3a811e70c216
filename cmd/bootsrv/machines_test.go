package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/timeline"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// newTimelineServer serves a recorder holding two machines, one in a boot
// loop, and returns its listen address.
func newTimelineServer(t *testing.T) string {
	t.Helper()
	rec, err := timeline.New(timeline.Config{}, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	looper, _ := timeline.ParseMAC("52:54:00:00:00:01")
	rec.Record(event.Event{MAC: looper, IP: netip.MustParseAddr("10.0.0.51"), Service: event.DHCP, Kind: event.DHCPOut,
		MsgType: event.Ack, Result: event.OK, File: "undionly.kpxe", Hostname: "node1"})
	for range 3 {
		rec.Record(event.Event{MAC: looper, Service: event.TFTP, Kind: event.Transfer, Result: event.OK, File: "undionly.kpxe"})
	}
	other, _ := timeline.ParseMAC("52:54:00:00:00:02")
	rec.Record(event.Event{MAC: other, IP: netip.MustParseAddr("10.0.0.52"), Service: event.HTTP, Kind: event.Transfer,
		Result: event.Failed, File: "vmlinuz", Detail: "not found", Hostname: "node2"})
	mux := http.NewServeMux()
	for pattern, h := range rec.Handlers() {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestMachinesCommand: `bootsrv machines` reads the running server named
// by the config's http.listen.
func TestMachinesCommand(t *testing.T) {
	addr := newTimelineServer(t)
	_, port, _ := strings.Cut(addr, ":")
	tests := map[string]struct {
		listen  string
		args    []string
		want    []string // in stdout
		wantErr string
	}{
		"list":          {listen: addr, want: []string{"MAC", "52:54:00:00:00:01", "node1", "LOOP", "http vmlinuz error: not found"}},
		"wildcard host": {listen: ":" + port, want: []string{"52:54:00:00:00:02"}},
		"search":        {listen: addr, args: []string{"-q", "node2"}, want: []string{"node2"}},
		"json list":     {listen: addr, args: []string{"-json"}, want: []string{`"mac": "52:54:00:00:00:01"`, `"boot_loop": true`}},
		"one machine": {listen: addr, args: []string{"-mac", "52-54-00-00-00-01"},
			want: []string{"Hostname:", "node1", "Boot loop:", "YES", "undionly.kpxe", "boot_loop"}},
		"one machine json": {listen: addr, args: []string{"-mac", "52:54:00:00:00:02", "-json"},
			want: []string{`"summary": {`, `"events": [`, `"detail": "not found"`}},
		"unknown machine": {listen: addr, args: []string{"-mac", "52:54:00:00:00:09"}, wantErr: "52:54:00:00:00:09 has no timeline"},
		"bad machine":     {listen: addr, args: []string{"-mac", "zz"}, wantErr: "neither a MAC nor an IP"},
		"http off":        {listen: "off", wantErr: "http.listen: off"},
		"no server":       {listen: "127.0.0.1:1", wantErr: "asking http://127.0.0.1:1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := writeConfig(t, "images:\n  root: ROOT\nhttp:\n  listen: \""+tc.listen+"\"\n")
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"machines", "-config", file}, tc.args...), nil, &stdout, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("machines: %v\n%s", err, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
			if strings.Contains(name, "json") && !json.Valid(stdout.Bytes()) {
				t.Errorf("not JSON:\n%s", stdout.String())
			}
		})
	}
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"machines", "extra"}, nil, &bytes.Buffer{}, &stderr); err == nil {
		t.Error("an extra argument was accepted")
	}
}

// TestLocalURL: the CLI reaches the running server on loopback when it
// listens on a wildcard address, and on a link-local one through its zone
// (RFC 6874), which Go's URL parser reads back.
func TestLocalURL(t *testing.T) {
	for listen, want := range map[string]struct{ url, host string }{
		":8080":             {"http://127.0.0.1:8080", "127.0.0.1"},
		"[::]:8080":         {"http://127.0.0.1:8080", "127.0.0.1"},
		"[::1]:8080":        {"http://[::1]:8080", "::1"},
		"[2001:db8::1]:80":  {"http://[2001:db8::1]:80", "2001:db8::1"},
		"[fe80::1%eth0]:80": {"http://[fe80::1%25eth0]:80", "fe80::1%eth0"},
		"boot.example:8080": {"http://boot.example:8080", "boot.example"},
	} {
		got, err := localURL(listen)
		if err != nil || got != want.url {
			t.Errorf("localURL(%q) = %q, %v; want %q", listen, got, err, want.url)
			continue
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("%q: %v", got, err)
		} else if u.Hostname() != want.host {
			t.Errorf("%q parses as host %q, want %q", got, u.Hostname(), want.host)
		}
	}
}
