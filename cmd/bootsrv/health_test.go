package main

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// TestServiceFailureStopsOnlyThatService: a service whose socket breaks
// at run time is reported in /healthz and bootsrv_service_up, and the
// other services run on until the process is told to stop.
func TestServiceFailureStopsOnlyThatService(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := newHealth([]string{"tftp", "ftp"}, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ftpRunning := make(chan struct{})
	ftpStopped := make(chan struct{})
	svcs := []*service{
		{name: "tftp", serve: func(context.Context) error { return errors.New("read udp: socket broken") }},
		{name: "ftp", serve: func(ctx context.Context) error {
			close(ftpRunning)
			<-ctx.Done()
			close(ftpStopped)
			return nil
		}},
	}
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			supervise(ctx, s, h, zerolog.Nop())
		}()
	}
	<-ftpRunning
	waitFor(t, func() bool { return metricValue(t, reg, "bootsrv_service_up", "tftp") == 0 })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 503 || !strings.Contains(string(body), "tftp (read udp: socket broken)") || strings.Contains(string(body), ", ftp") || strings.Contains(string(body), ": ftp") {
		t.Fatalf("/healthz = %d %q, want 503 naming only tftp and why", rec.Code, body)
	}
	if got := metricValue(t, reg, "bootsrv_service_up", "ftp"); got != 1 {
		t.Fatalf("bootsrv_service_up{ftp} = %v, want 1", got)
	}
	select {
	case <-ftpStopped:
		t.Fatal("ftp stopped because tftp failed")
	default:
	}
	cancel()
	wg.Wait()
	<-ftpStopped
}

func TestHealthOK(t *testing.T) {
	h, err := newHealth([]string{"tftp"}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "tftp (starting)") {
		t.Fatalf("before serving: %d %q", rec.Code, rec.Body.String())
	}
	h.set("tftp", "")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("serving: %d %q", rec.Code, rec.Body.String())
	}
}

// TestHealthDegraded: a serving service that reports itself degraded (the
// DHCP lease store unreachable) makes /healthz answer 503 saying so.
func TestHealthDegraded(t *testing.T) {
	h, err := newHealth([]string{"dhcp", "tftp"}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	why := "lease store unavailable"
	h.watch("dhcp", func() string { return why })
	h.set("dhcp", "")
	h.set("tftp", "")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 503 || rec.Body.String() != "degraded: dhcp (lease store unavailable)\n" {
		t.Fatalf("degraded: %d %q", rec.Code, rec.Body.String())
	}
	why = ""
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("recovered: %d %q", rec.Code, rec.Body.String())
	}
}
