package netboot

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/scripts"
)

// fixedExplainer answers every query with one DHCP explanation.
type fixedExplainer struct{ d dhcp.Explanation }

func (f fixedExplainer) Explain(dhcp.ExplainQuery) dhcp.Explanation { return f.d }

func newExplainLayer(t *testing.T) *Layer {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "snponly.efi"), []byte("EFI-IMAGE"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := images.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	l, err := New(Config{Scripts: scripts.Config{HTTPAddr: ":8080",
		Scripts: []scripts.Script{{Name: "boot.ipxe", Template: "#!ipxe\necho {{.MAC}} {{.Arch}}\n"}}}},
		store, nil, nil, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestExplainBootfile: the bootfile is told apart as a store file with
// its size, a script rendered for the machine, a URL, or missing (with a
// warning), with the URLs this server serves it at.
func TestExplainBootfile(t *testing.T) {
	l := newExplainLayer(t)
	q, err := ParseQuery(values{"mac": "52:54:00:00:00:07", "arch": "efi64"}.get)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		file, kind, script, http string
		size                     int64
		warn                     bool
	}{
		"store file": {file: "snponly.efi", kind: "file", size: 9, http: "http://10.0.0.1:8080/images/snponly.efi"},
		"script":     {file: "boot.ipxe", kind: "script", script: "#!ipxe\necho 52:54:00:00:00:07 efi64\n", size: 36},
		"url":        {file: "http://10.0.0.9/x.efi", kind: "url"},
		"missing":    {file: "undionly.kpxe", kind: "missing", warn: true},
	}
	for name, tc := range tests {
		e := l.Explain(q, fixedExplainer{dhcp.Explanation{Reply: "ack", Bootfile: tc.file, NextServer: "10.0.0.1"}})
		b := e.Bootfile
		if b == nil || b.Kind != tc.kind || b.Size != tc.size || b.Script != tc.script || (tc.http != "" && b.HTTP != tc.http) {
			t.Errorf("%s: %+v", name, b)
		}
		if (len(e.Warnings) > 0) != tc.warn {
			t.Errorf("%s: warnings %q", name, e.Warnings)
		}
	}
	if e := l.Explain(q, nil); e.DHCP != nil || len(e.Notes) == 0 {
		t.Errorf("without DHCP: %+v", e)
	}
}

type values map[string]string

func (v values) get(k string) string { return v[k] }

func TestParseQuery(t *testing.T) {
	for _, bad := range []values{{"mac": "x"}, {"mac": "52:54:00:00:00:01", "arch": "sparc"}, {"mac": "52:54:00:00:00:01", "giaddr": "::1"}} {
		if _, err := ParseQuery(bad.get); err == nil {
			t.Errorf("ParseQuery(%v) accepted", bad)
		}
	}
	q, err := ParseQuery(values{"mac": "52-54-00-00-00-01", "arch": "11", "giaddr": "10.1.0.1", "user_class": "iPXE"}.get)
	if err != nil || q.Arch != 11 || q.GIAddr.String() != "10.1.0.1" || q.UserClass != "iPXE" {
		t.Errorf("ParseQuery: %+v %v", q, err)
	}
}

// TestExplainHandler: GET /api/explain answers JSON, and 400 for a query
// that is no machine.
func TestExplainHandler(t *testing.T) {
	h := newExplainLayer(t).ExplainHandler(fixedExplainer{dhcp.Explanation{Reply: "ack", Bootfile: "boot.ipxe", NextServer: "10.0.0.1"}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/explain?mac=52:54:00:00:00:07&arch=bios", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"kind":"script"`) {
		t.Errorf("explain: %d %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/explain?mac=nonsense", nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not a MAC") {
		t.Errorf("bad mac: %d %s", rec.Code, rec.Body.String())
	}
}

// TestExplainIPv6URLs: the TFTP and HTTP URLs of a bootfile on an IPv6
// server bracket its address and leave out any zone.
func TestExplainIPv6URLs(t *testing.T) {
	l := newExplainLayer(t)
	q, err := ParseQuery(values{"mac": "52:54:00:00:00:07"}.get)
	if err != nil {
		t.Fatal(err)
	}
	for next, want := range map[string][2]string{
		"2001:db8::1":  {"tftp://[2001:db8::1]/snponly.efi", "http://[2001:db8::1]:8080/images/snponly.efi"},
		"fe80::1%eth0": {"tftp://[fe80::1]/snponly.efi", "http://[fe80::1]:8080/images/snponly.efi"},
	} {
		b := l.Explain(q, fixedExplainer{dhcp.Explanation{Reply: "ack", Bootfile: "snponly.efi", NextServer: next}}).Bootfile
		if b == nil || b.TFTP != want[0] || b.HTTP != want[1] {
			t.Errorf("next server %s: %+v, want %s and %s", next, b, want[0], want[1])
		}
	}
	for listen, want := range map[string]string{
		"[2001:db8::7]:80":  "http://[2001:db8::7]:80",
		"[fe80::7%eth0]:80": "http://[fe80::7]:80",
		"10.0.0.7:80":       "http://10.0.0.7:80",
		"[::]:8080":         "http://[2001:db8::1]:8080",
	} {
		if got := httpBase(listen, "2001:db8::1"); got != want {
			t.Errorf("httpBase(%q) = %q, want %q", listen, got, want)
		}
	}
}
