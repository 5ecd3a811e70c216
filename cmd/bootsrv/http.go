package main

import (
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/scripts"
)

// newRegistry is the process's own registry (never the global one) with the
// Go, process and build-info collectors and bootsrv_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bootsrv_build_info",
		Help: "Always 1; labels carry the bootsrv version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	reg.MustRegister(info)
	return reg
}

// newHTTPServer serves metrics, health, the services' handlers and, when
// store is not nil (http.images), the image store under /images/. Boot
// scripts (scr not nil) are served there too, before store files.
func newHTTPServer(reg *prometheus.Registry, h *health, svcs []*service, store *images.Store, scr *scripts.Server) *http.Server {
	mux := http.NewServeMux()
	var files http.Handler
	if store != nil {
		files = store.Handler()
	}
	if scr != nil {
		files = scr.Handler(files)
	}
	if files != nil {
		files = http.StripPrefix("/images/", files)
		mux.Handle("GET /images/", files)
		mux.Handle("HEAD /images/", files)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("GET /healthz", h)
	for _, s := range svcs {
		for pattern, handler := range s.handlers {
			mux.Handle(pattern, handler)
		}
	}
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
	}
}

// health answers /healthz: 200 only while every enabled service is serving.
type health struct {
	mu      sync.Mutex
	serving map[string]bool
}

func newHealth(svcs []*service) *health {
	h := &health{serving: map[string]bool{}}
	for _, s := range svcs {
		h.serving[s.name] = false
	}
	return h
}

func (h *health) set(name string, up bool) {
	h.mu.Lock()
	h.serving[name] = up
	h.mu.Unlock()
}

func (h *health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	var down []string
	for name, up := range h.serving {
		if !up {
			down = append(down, name)
		}
	}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(down) > 0 {
		sort.Strings(down)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not serving: %s\n", strings.Join(down, ", "))
		return
	}
	fmt.Fprintln(w, "ok")
}
