package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// httpConfig is the http: section: the address that serves /metrics,
// /healthz and the image store, and the limits that keep a flood of
// connections on it from exhausting the process's file descriptors.
type httpConfig struct {
	// Listen is the address, or "off". Default :8080.
	Listen string `yaml:"listen"`
	// Images serves the image store under ImagesPath for iPXE and UEFI
	// HTTP boot. Default true.
	Images *bool `yaml:"images"`
	// ImagesPath is the URL path the image store and boot scripts are
	// served under: it starts and ends with "/" and has no empty, "." or
	// ".." components. "/" serves the store at the root, answering every
	// path but bootsrv's own routes (ownPaths: /metrics, /healthz,
	// /dhcp/leases, /api/, /console/), for boot loaders that ask for
	// absolute paths from a built-in prefix (a distribution's netboot GRUB
	// asks for /grub/grub.cfg). Default /images/.
	ImagesPath string `yaml:"images_path"`
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
	setDefault(&h.ImagesPath, "/images/")
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
	if err := checkImagesPath(h.ImagesPath); err != nil {
		return "images_path", err
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

// checkImagesPath accepts "/" or a clean path that starts and ends with "/"
// and lies apart from bootsrv's own routes.
func checkImagesPath(p string) error {
	if p == "/" {
		return nil
	}
	if strings.ContainsAny(p, "?#%\\") || strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("%q: use plain path characters, without ?, #, %%, \\, spaces or control characters", p)
	}
	cs := components(p)
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || p != "/"+strings.Join(cs, "/")+"/" || slices.Contains(cs, "..") {
		return fmt.Errorf("%q is not a path like /images/ or /: it must start and end with / and have no empty, . or .. components", p)
	}
	for _, own := range ownPaths {
		if strings.HasPrefix(own, p) || strings.HasPrefix(p, strings.TrimSuffix(own, "/")+"/") {
			return fmt.Errorf("%q overlaps bootsrv's own route %s", p, own)
		}
	}
	return nil
}
