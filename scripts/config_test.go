package scripts

import (
	"errors"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const twoHosts = `#!ipxe
{{if .Known}}echo {{.Hostname}} role {{.Vars.role}}
{{else}}echo unknown {{.MAC}}
{{end}}`

func testHosts() []Host {
	return []Host{
		{MAC: "52:54:00:00:00:01", IP: "10.0.0.11", Hostname: "web1", Vars: map[string]string{"role": "web"}, Key: "dhcp.hosts[0]"},
		{MAC: "52:54:00:00:00:02", IP: "10.0.0.12", Hostname: "db1", Vars: map[string]string{"role": "db", "disk": "/dev/sdb"}, Key: "dhcp.hosts[1]"},
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.tmpl"), []byte("#!ipxe\necho {{.MAC}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.tmpl"), []byte("#!ipxe\n\necho {{.Macc}}\n"), 0o644)
	tests := map[string]struct {
		scripts  []Script
		key      string // "" means valid
		line     int    // the error's Line in the template
		contains []string
	}{
		"inline ok":          {scripts: []Script{{Name: "boot.ipxe", Template: twoHosts}}},
		"file ok":            {scripts: []Script{{Name: "/menu.ipxe", File: "good.tmpl"}}},
		"no name":            {scripts: []Script{{Template: "x"}}, key: "scripts[0].name"},
		"bad name":           {scripts: []Script{{Name: "../x", Template: "x"}}, key: "scripts[0].name"},
		"duplicate":          {scripts: []Script{{Name: "a", Template: "x"}, {Name: "/a", Template: "y"}}, key: "scripts[1].name", contains: []string{"scripts[0]"}},
		"neither":            {scripts: []Script{{Name: "a"}}, key: "scripts[0]", contains: []string{"exactly one"}},
		"both":               {scripts: []Script{{Name: "a", Template: "x", File: "good.tmpl"}}, key: "scripts[0]"},
		"missing file":       {scripts: []Script{{Name: "a", File: "nope.tmpl"}}, key: "scripts[0].file", contains: []string{"nope.tmpl"}},
		"parse error":        {scripts: []Script{{Name: "a", Template: "#!ipxe\n{{if .Known}}\n"}}, key: "scripts[0].template", line: 3, contains: []string{"template line 3", "unexpected EOF"}},
		"unknown function":   {scripts: []Script{{Name: "a", Template: "#!ipxe\n\n{{nosuch .MAC}}\n"}}, key: "scripts[0].template", line: 3, contains: []string{"nosuch"}},
		"misspelt field":     {scripts: []Script{{Name: "a", Template: "#!ipxe\necho {{.Hostnme}}\n"}}, key: "scripts[0].template", line: 2, contains: []string{"Hostnme", "template line 2"}},
		"misspelt in branch": {scripts: []Script{{Name: "a", Template: "#!ipxe\n{{if eq .Arch \"arm64\"}}\n{{.HTTPbase}}{{end}}\n"}}, key: "scripts[0].template", line: 3, contains: []string{"HTTPbase", "arch arm64"}},
		"var one host lacks": {scripts: []Script{{Name: "a", Template: "#!ipxe\n{{if .Known}}{{.Vars.disk}}{{end}}\n"}}, key: "scripts[0].template", line: 2,
			contains: []string{`no entry for key "disk"`, "dhcp.hosts[0] 52:54:00:00:00:01"}},
		"var for unknown":   {scripts: []Script{{Name: "a", Template: "{{.Vars.role}}"}}, key: "scripts[0].template", line: 1, contains: []string{"unidentified machine"}},
		"optional var":      {scripts: []Script{{Name: "a", Template: `{{index .Vars "disk"}}`}}},
		"bad file template": {scripts: []Script{{Name: "a", File: "bad.tmpl"}}, key: "scripts[0].file", contains: []string{filepath.Join(dir, "bad.tmpl") + ":3", "Macc"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := Config{Scripts: tc.scripts, Dir: dir, Hosts: testHosts(), HTTPAddr: ":8080"}.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ke *cfgerr.Error
			if !errors.As(err, &ke) {
				t.Fatalf("error %v names no key", err)
			}
			if ke.Key != tc.key || ke.Line != tc.line {
				t.Errorf("key %q line %d, want %q line %d (%v)", ke.Key, ke.Line, tc.key, tc.line, err)
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q lacks %q", err, c)
				}
			}
			if strings.Contains(err.Error(), "template: a:") {
				t.Errorf("error %q keeps text/template's prefix", err)
			}
		})
	}
}

func TestArch(t *testing.T) {
	for code, want := range map[int]string{-1: "", 0: "bios", 7: "efi64", 9: "efi64", 11: "arm64", 16: "efi64", 42: "arch42"} {
		if got := archName(code); got != want {
			t.Errorf("archName(%d) = %q, want %q", code, got, want)
		}
	}
	for in, want := range map[string]int{"7": 7, "efi64": 7, "BIOS": 0, "arm64": 11, "0": 0, "x": -1, "-1": -1, "07": -1, "70000": -1} {
		got, ok := parseArch(in)
		if got != want || ok != (want >= 0) {
			t.Errorf("parseArch(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}
