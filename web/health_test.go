package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthOK(t *testing.T) {
	h, err := NewHealth([]string{"tftp"}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "tftp (starting)") {
		t.Fatalf("before serving: %d %q", rec.Code, rec.Body.String())
	}
	h.Set("tftp", "")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("serving: %d %q", rec.Code, rec.Body.String())
	}
}

// TestHealthMetric: bootsrv_service_up follows Set.
func TestHealthMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := NewHealth([]string{"tftp", "ftp"}, reg)
	if err != nil {
		t.Fatal(err)
	}
	h.Set("ftp", "")
	if got := metricValue(t, reg, "bootsrv_service_up", "ftp"); got != 1 {
		t.Errorf("ftp up = %v", got)
	}
	if got := metricValue(t, reg, "bootsrv_service_up", "tftp"); got != 0 {
		t.Errorf("tftp (starting) up = %v", got)
	}
	if why, known := h.Status("tftp"); why != "starting" || !known {
		t.Errorf("Status(tftp) = %q, %v", why, known)
	}
}

// TestHealthDegraded: a serving service that reports itself degraded (the
// DHCP lease store unreachable) makes /healthz answer 503 saying so.
func TestHealthDegraded(t *testing.T) {
	h, err := NewHealth([]string{"dhcp", "tftp"}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	why := "lease store unavailable"
	h.Watch("dhcp", func() string { return why })
	h.Set("dhcp", "")
	h.Set("tftp", "")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 503 || rec.Body.String() != "degraded: dhcp (lease store unavailable)\n" {
		t.Fatalf("degraded: %d %q", rec.Code, rec.Body.String())
	}
	if got := h.State("dhcp"); got != "degraded: lease store unavailable" {
		t.Errorf("State(dhcp) = %q", got)
	}
	if got := h.State("tftp"); got != "" {
		t.Errorf("State(tftp) = %q", got)
	}
	why = ""
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("recovered: %d %q", rec.Code, rec.Body.String())
	}
}
