package main

import (
	"fmt"
	"syscall"
	"time"
)

// httpConfig is the http: section: the address that serves /metrics,
// /healthz and the image store, and the limits that keep a flood of
// connections on it from exhausting the process's file descriptors.
type httpConfig struct {
	// Listen is the address, or "off". Default :8080.
	Listen string `yaml:"listen"`
	// Images serves the image store under /images/ for iPXE and UEFI
	// HTTP boot. Default true.
	Images *bool `yaml:"images"`
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	// Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds a stall while sending a response: the deadline
	// moves on with every 512 KiB sent, so a large image to a slow but
	// moving client is never cut, while a client that stops reading is
	// dropped. Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection with no request for this
	// long. Default 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnections caps open connections; more get 503 and are closed.
	// Default (zero) a quarter of the process's file-descriptor limit, at
	// most 1024, so that HTTP alone can never take every descriptor.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerIP caps open connections from one client address.
	// Default 32.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
}

// Defaults of the http section.
const (
	defaultHTTPReadHeaderTimeout = 10 * time.Second
	defaultHTTPReadTimeout       = 30 * time.Second
	defaultHTTPWriteTimeout      = 30 * time.Second
	defaultHTTPIdleTimeout       = 60 * time.Second
	defaultHTTPMaxConnsPerIP     = 32
	maxDefaultHTTPConns          = 1024
)

func (h *httpConfig) fillDefaults() {
	setDefault(&h.Listen, ":8080")
	if h.Images == nil {
		on := true
		h.Images = &on
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&h.ReadHeaderTimeout, defaultHTTPReadHeaderTimeout},
		{&h.ReadTimeout, defaultHTTPReadTimeout},
		{&h.WriteTimeout, defaultHTTPWriteTimeout},
		{&h.IdleTimeout, defaultHTTPIdleTimeout},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if h.MaxConnections == 0 {
		h.MaxConnections = defaultMaxConns()
	}
	if h.MaxConnectionsPerIP == 0 {
		h.MaxConnectionsPerIP = defaultHTTPMaxConnsPerIP
	}
}

// defaultMaxConns is a quarter of RLIMIT_NOFILE (Go raises the soft limit
// to the hard one at start), at least 16 and at most 1024.
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return maxDefaultHTTPConns
	}
	return int(max(16, min(rl.Cur/4, maxDefaultHTTPConns)))
}

// check returns the key (relative to http) and reason of the first bad
// value.
func (h *httpConfig) check() (string, error) {
	if err := checkAddr(h.Listen); err != nil {
		return "listen", err
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"read_header_timeout", h.ReadHeaderTimeout},
		{"read_timeout", h.ReadTimeout},
		{"write_timeout", h.WriteTimeout},
		{"idle_timeout", h.IdleTimeout},
	} {
		if err := checkPositive(d.v); err != nil {
			return d.key, err
		}
	}
	switch {
	case h.MaxConnections < 1:
		return "max_connections", fmt.Errorf("must be at least 1, got %d", h.MaxConnections)
	case h.MaxConnectionsPerIP < 1 || h.MaxConnectionsPerIP > h.MaxConnections:
		return "max_connections_per_ip", fmt.Errorf("must be between 1 and max_connections (%d), got %d", h.MaxConnections, h.MaxConnectionsPerIP)
	}
	return "", nil
}
