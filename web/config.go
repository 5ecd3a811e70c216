package web

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// Config is the http: section of the config file, without listen, which
// the command owns: the image store's place on the HTTP address, and the
// limits that keep a flood of connections from exhausting the process's
// file descriptors. WithDefaults fills the zero fields.
type Config struct {
	// Images serves the image store under ImagesPath for iPXE and UEFI
	// HTTP boot. Default true.
	Images *bool `yaml:"images"`
	// ImagesPath is the URL path the image store and boot scripts are
	// served under: it starts and ends with "/" and has no empty, "." or
	// ".." components. "/" serves the store at the root, answering every
	// path but bootsrv's own routes (ownPaths), for boot loaders that ask
	// for absolute paths from a built-in prefix (a distribution's netboot
	// GRUB asks for /grub/grub.cfg). Default /images/.
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
	// Users are the accounts of the web console and the API. When any is
	// set, every route but /metrics, /healthz and the image store needs
	// HTTP basic auth (RFC 7617) as one of them: the console, /api/ and
	// /dhcp/leases. Default none: those routes are open to anyone who
	// reaches the address (a warning is logged at start when it is not
	// loopback). A reload applies changes.
	Users []User `yaml:"users"`
	// TLS serves HTTPS instead of HTTP on the address when Cert and Key
	// are set, so that basic auth is not sent in the clear. It covers the
	// whole address, the image store too: firmware that boots over plain
	// HTTP then needs another address. Default off. Fixed at start.
	TLS TLS `yaml:"tls"`
	// AuthFailureDelay is how long a request with wrong credentials waits
	// for its 401, so that guessing passwords is slow. Default 1s.
	AuthFailureDelay time.Duration `yaml:"auth_failure_delay"`
}

// User is one account of the console and the API.
type User struct {
	// Name is the login name. Required.
	Name string `yaml:"name"`
	// PasswordHash is a bcrypt hash (bootsrv passwd prints one). Required.
	// No route ever shows it.
	PasswordHash string `yaml:"password_hash"`
}

// TLS is the certificate the HTTP address serves HTTPS with.
type TLS struct {
	// Cert is a PEM certificate file (with its chain). Empty: plain HTTP.
	Cert string `yaml:"cert"`
	// Key is the PEM private key file of Cert. Empty: plain HTTP.
	Key string `yaml:"key"`
}

// Enabled reports whether HTTPS is configured.
func (t TLS) Enabled() bool { return t.Cert != "" && t.Key != "" }

// Defaults of the http section.
const (
	DefaultImagesPath        = "/images/"
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxConnsPerIP     = 32
	DefaultAuthFailureDelay  = time.Second
	maxDefaultConns          = 1024
)

// ownPaths are bootsrv's own HTTP routes, present and planned, which the
// image store never answers, even with images_path "/". One ending in "/"
// stands for its subtree.
var ownPaths = []string{"/metrics", "/healthz", "/dhcp/leases", "/api/", "/console/"}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.ImagesPath == "" {
		c.ImagesPath = DefaultImagesPath
	}
	if c.Images == nil {
		on := true
		c.Images = &on
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{&c.ReadTimeout, DefaultReadTimeout},
		{&c.WriteTimeout, DefaultWriteTimeout},
		{&c.IdleTimeout, DefaultIdleTimeout},
		{&c.AuthFailureDelay, DefaultAuthFailureDelay},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = defaultMaxConns()
	}
	if c.MaxConnectionsPerIP == 0 {
		c.MaxConnectionsPerIP = DefaultMaxConnsPerIP
	}
	return c
}

// defaultMaxConns is a quarter of RLIMIT_NOFILE (Go raises the soft limit
// to the hard one at start), at least 16 and at most 1024.
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return maxDefaultConns
	}
	return int(max(16, min(rl.Cur/4, maxDefaultConns)))
}

// Validate checks a config that went through WithDefaults. Errors are
// *cfgerr.Error with the key relative to the http section.
func (c Config) Validate() error {
	if err := checkImagesPath(c.ImagesPath); err != nil {
		return cfgerr.New("images_path", err)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"read_header_timeout", c.ReadHeaderTimeout},
		{"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout},
		{"auth_failure_delay", c.AuthFailureDelay},
	} {
		if d.v <= 0 {
			return cfgerr.Errorf(d.key, "must be positive, got %s", d.v)
		}
	}
	switch {
	case c.MaxConnections < 1:
		return cfgerr.Errorf("max_connections", "must be at least 1, got %d", c.MaxConnections)
	case c.MaxConnectionsPerIP < 1 || c.MaxConnectionsPerIP > c.MaxConnections:
		return cfgerr.Errorf("max_connections_per_ip", "must be between 1 and max_connections (%d), got %d", c.MaxConnections, c.MaxConnectionsPerIP)
	case (c.TLS.Cert == "") != (c.TLS.Key == ""):
		return cfgerr.New("tls", errors.New("set both cert and key, or neither"))
	}
	return c.validateUsers()
}

// validateUsers checks http.users; errors never quote a hash.
func (c Config) validateUsers() error {
	seen := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, ": \t\r\n\x00"):
			return cfgerr.New(key+".name", errors.New("must be a non-empty word without a colon (RFC 7617)"))
		case seen[u.Name]:
			return cfgerr.Errorf(key+".name", "duplicate user %q", u.Name)
		}
		seen[u.Name] = true
		if err := checkHash(u.PasswordHash); err != nil {
			return cfgerr.New(key+".password_hash", err)
		}
	}
	return nil
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
