package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestExplainCommand: bootsrv explain answers from the config alone, names
// what decided, and refuses a query that is no machine.
func TestExplainCommand(t *testing.T) {
	file := writeConfig(t, `images:
  root: ROOT
dhcp:
  mode: server
  interface: eth9
  server_ip: 10.0.0.1
  lease_file: ROOT/../leases.db
  pools:
    - {subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.200}
  hosts:
    - {mac: "52:54:00:12:34:56", ip: 10.0.0.50, hostname: node1}
  boot: {efi64: snponly.efi, ipxe: boot.ipxe}
scripts:
  - name: boot.ipxe
    template: "#!ipxe\necho {{.Hostname}}\n"
`)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"explain", "-config", file, "-mac", "52:54:00:12:34:56", "-arch", "bios", "-user-class", "iPXE"}, nil, &out, &out); err != nil {
		t.Fatal(err, out.String())
	}
	for _, want := range []string{"ACK 10.0.0.50 (reservation dhcp.hosts[0])", "decided by dhcp.boot.ipxe", "bootfile boot.ipxe: script", "| echo node1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"explain", "-config", file, "-mac", "52:54:00:99:00:01", "-arch", "efi64", "-json"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	var e struct {
		DHCP     struct{ Bootfile, DecidedBy string } `json:"dhcp"`
		Warnings []string
	}
	if err := json.Unmarshal(out.Bytes(), &e); err != nil || e.DHCP.Bootfile != "snponly.efi" || len(e.Warnings) != 1 {
		t.Errorf("explain -json: %+v %v\n%s", e, err, out.String())
	}
	if err := run(context.Background(), []string{"explain", "-config", file, "-mac", "zz"}, nil, &out, &out); err == nil {
		t.Error("a MAC that is none was accepted")
	}
}
