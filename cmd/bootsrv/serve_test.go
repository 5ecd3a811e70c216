package main

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/web"
)

// TestServiceFailureStopsOnlyThatService: a service whose socket breaks
// at run time is reported in /healthz and bootsrv_service_up, and the
// other services run on until the process is told to stop.
func TestServiceFailureStopsOnlyThatService(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := web.NewHealth([]string{"tftp", "ftp"}, reg)
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
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if why, _ := h.Status("tftp"); why != "" && why != "starting" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tftp's failure not reported within 10s")
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 503 || !strings.Contains(string(body), "tftp (read udp: socket broken)") || strings.Contains(string(body), ", ftp") || strings.Contains(string(body), ": ftp") {
		t.Fatalf("/healthz = %d %q, want 503 naming only tftp and why", rec.Code, body)
	}
	if why, _ := h.Status("ftp"); why != "" {
		t.Fatalf("ftp reported down (%q) because tftp failed", why)
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
