package web

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Health answers /healthz and feeds bootsrv_service_up: 200 only while
// every enabled service is serving and none is degraded; otherwise 503
// naming each service that is not serving or degraded, and why.
type Health struct {
	mu   sync.Mutex
	down map[string]string // service -> why it is not serving; "" when it is
	// degraded says why a serving service does not fully serve ("" when
	// it does), asked at each request: the DHCP lease store unreachable.
	degraded map[string]func() string
	up       *prometheus.GaugeVec
}

// NewHealth tracks the named services, each "starting" until Set says
// otherwise.
func NewHealth(names []string, reg prometheus.Registerer) (*Health, error) {
	h := &Health{down: map[string]string{}, degraded: map[string]func() string{}, up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bootsrv_service_up",
		Help: "1 while the service is serving, 0 when it has stopped (see /healthz and the log for why).",
	}, []string{"service"})}
	if err := reg.Register(h.up); err != nil {
		return nil, err
	}
	for _, n := range names {
		h.Set(n, "starting")
	}
	return h, nil
}

// Set records why service name is not serving, or "" when it is.
func (h *Health) Set(name, why string) {
	h.mu.Lock()
	h.down[name] = why
	h.mu.Unlock()
	v := 0.0
	if why == "" {
		v = 1
	}
	h.up.WithLabelValues(name).Set(v)
}

// Watch makes /healthz ask fn whether service name, while serving, is
// degraded: fn returns why, or "".
func (h *Health) Watch(name string, fn func() string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.degraded[name] = fn
}

// Status reports why service name is not serving, "" when it is.
func (h *Health) Status(name string) (why string, known bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	why, known = h.down[name]
	return why, known
}

// State says why service name does not fully serve: why it is not serving
// (as Status), or why it is degraded; "" while it serves.
func (h *Health) State(name string) string {
	h.mu.Lock()
	why, fn := h.down[name], h.degraded[name]
	h.mu.Unlock()
	if why == "" && fn != nil {
		if d := fn(); d != "" {
			return "degraded: " + d
		}
	}
	return why
}

func (h *Health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	var down, degraded []string
	for name, why := range h.down {
		if why != "" {
			down = append(down, name+" ("+why+")")
		} else if fn := h.degraded[name]; fn != nil {
			if why := fn(); why != "" {
				degraded = append(degraded, name+" ("+why+")")
			}
		}
	}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(down)+len(degraded) == 0 {
		fmt.Fprintln(w, "ok")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	if len(down) > 0 {
		sort.Strings(down)
		fmt.Fprintf(w, "not serving: %s\n", strings.Join(down, ", "))
	}
	if len(degraded) > 0 {
		sort.Strings(degraded)
		fmt.Fprintf(w, "degraded: %s\n", strings.Join(degraded, ", "))
	}
}
