package web

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// lockedLog collects the server's log lines.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDualStack: one listener on [::] serves IPv4 and IPv6 clients; each
// transfer is logged and told to the timeline with the client's own
// address, IPv4 as IPv4, never ::ffff:a.b.c.d.
func TestDualStack(t *testing.T) {
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer ln.Close()
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Unix(0, 0), strings.NewReader("both"))
	})
	var mu sync.Mutex
	var events []event.Event
	sink := event.SinkFunc(func(e event.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	logs := &lockedLog{}
	srv, err := New(Config{}, Routes{Files: files, Events: sink}, zerolog.New(logs), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "::1"} {
		resp, err := http.Get("http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/images/f")
		if err != nil {
			t.Fatalf("GET from %s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "both" {
			t.Fatalf("GET from %s: %q", host, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	srv.Shutdown(sctx) // waits for the requests, so their lines and events are out
	mu.Lock()
	defer mu.Unlock()
	got := map[string]bool{}
	for _, e := range events {
		got[e.IP.String()] = true
	}
	if len(events) != 2 || !got["127.0.0.1"] || !got["::1"] {
		t.Errorf("events %+v, want one from 127.0.0.1 and one from ::1", events)
	}
	l := logs.String()
	if !strings.Contains(l, `"peer":"127.0.0.1:`) || !strings.Contains(l, `"peer":"[::1]:`) || strings.Contains(l, "::ffff:") {
		t.Errorf("transfers not logged with peers 127.0.0.1 and [::1]:\n%s", l)
	}
}
