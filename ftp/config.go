package ftp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Config is the ftp section of the bootsrv config file (minus `listen`,
// which cmd/bootsrv owns). Every field's doc comment gives its default and
// what its zero value means; WithDefaults fills the defaults.
type Config struct {
	// PassivePorts is the TCP port range for passive data connections
	// (PASV/EPSV), written "30000-30100". Default 30000-30100.
	PassivePorts PortRange `yaml:"passive_ports"`
	// PublicHost is the IPv4 address announced in PASV replies when the
	// server sits behind NAT. Empty: the control connection's local address.
	// IPv4 only: IPv6 clients use EPSV, whose reply carries no address
	// (RFC 2428 §3), so there is nothing to announce to them.
	PublicHost string `yaml:"public_host"`
	// Banner is the text of the 220 greeting. It never carries a version.
	// Default "FTP server ready".
	Banner string `yaml:"banner"`
	// Anonymous controls logins as "anonymous" or "ftp".
	Anonymous Anonymous `yaml:"anonymous"`
	// Users are the named accounts. None by default.
	Users []User `yaml:"users"`
	// TLS enables explicit FTPS (AUTH TLS, RFC 4217) when Cert and Key are set.
	TLS TLS `yaml:"tls"`
	// Limits bound sessions, logins and timeouts.
	Limits Limits `yaml:"limits"`
	// ActiveAnyPort makes active-mode (PORT/EPRT) data connections leave
	// from an ephemeral port. Default false: they leave from port 20 as RFC
	// 959 says when the process may bind it (root or CAP_NET_BIND_SERVICE),
	// and from an ephemeral port otherwise.
	ActiveAnyPort bool `yaml:"active_any_port"`
	// DisableActive refuses PORT and EPRT (502). Default false.
	DisableActive bool `yaml:"disable_active"`
	// AllowOverwrite lets users with write permission replace existing
	// files with STOR and RNTO. Default false: an existing name gives 550.
	// Anonymous uploads never overwrite.
	AllowOverwrite bool `yaml:"allow_overwrite"`
	// MaxUploadSize caps one uploaded file in bytes. Zero: no cap.
	MaxUploadSize int64 `yaml:"max_upload_size"`
	// PartialTTL is how long a named user's interrupted upload is kept,
	// hidden, for that user to resume (REST+STOR, APPE) after its last
	// write; then it no longer counts and the store's sweep removes it.
	// Anonymous uploads are never kept. Default 24h; zero means the
	// default.
	PartialTTL time.Duration `yaml:"partial_ttl"`

	// UploadDir is the store folder for uploads, filled by cmd/bootsrv from
	// images.uploads. Default "incoming". Anonymous uploads, when enabled,
	// land here.
	UploadDir string `yaml:"-"`
	// Events is told of logins and transfers, for the boot timeline;
	// fixed by New (a reload does not change it). Zero: nobody is.
	Events event.Sink `yaml:"-"`
	// Transfers is told of every transfer while it runs, with its
	// progress, and of every upload stored, for the web console; fixed by
	// New. Nil: nobody is.
	Transfers *inflight.Registry `yaml:"-"`
}

// Anonymous is the policy for the "anonymous" and "ftp" logins.
type Anonymous struct {
	// Enabled turns anonymous logins on. Default (absent or null) true; a
	// pointer so that an explicit `enabled: false` is honoured.
	Enabled *bool `yaml:"enabled"`
	// Root is the store folder anonymous users see as "/". Default "/".
	Root string `yaml:"root"`
	// Upload lets anonymous users store new files into the upload folder
	// (Config.UploadDir, images.uploads). The folder is upload-only for
	// them: no listing, no download, no resume, no overwrite, no delete.
	// Default false: anonymous is read-only. Validate refuses it when the
	// upload folder is the store root or contains Root.
	Upload bool `yaml:"upload"`
}

// IsEnabled reports whether anonymous logins are on.
func (a Anonymous) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

// User is one named account.
type User struct {
	// Name is the login name. Required; "anonymous" and "ftp" are reserved.
	Name string `yaml:"name"`
	// PasswordHash is a bcrypt hash (bootsrv passwd prints one). Required.
	PasswordHash string `yaml:"password_hash"`
	// Root is the store folder the user sees as "/". Default "/".
	Root string `yaml:"root"`
	// Write allows STOR, APPE, DELE, MKD, RMD, RNFR/RNTO. Default false.
	Write bool `yaml:"write"`
}

// TLS configures explicit FTPS.
type TLS struct {
	// Cert is a PEM certificate file. Empty: no FTPS.
	Cert string `yaml:"cert"`
	// Key is the PEM private key file for Cert. Empty: no FTPS.
	Key string `yaml:"key"`
	// Require refuses logins before AUTH TLS and data transfers without
	// PROT P. Default false. Needs Cert and Key.
	Require bool `yaml:"require"`
}

// Limits bound resources a client can hold.
type Limits struct {
	// MaxSessions caps concurrent control connections; more get 421.
	// Default 500.
	MaxSessions int `yaml:"max_sessions"`
	// MaxSessionsPerIP caps concurrent control connections from one
	// address; more get 421. Default 20.
	MaxSessionsPerIP int `yaml:"max_sessions_per_ip"`
	// IdleTimeout closes a control connection with no command for this
	// long (421), except while a transfer runs. Default 5m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// LoginTimeout closes a connection that has not logged in after this
	// long. Default 1m.
	LoginTimeout time.Duration `yaml:"login_timeout"`
	// LoginFailures is how many bad passwords a connection may send before
	// it is closed. Default 3.
	LoginFailures int `yaml:"login_failures"`
	// LoginFailureDelay delays each 530 after a bad password. Default 1s.
	LoginFailureDelay time.Duration `yaml:"login_failure_delay"`
	// DataTimeout bounds waiting for a data connection to open (accept or
	// connect) and any stall of a running transfer. Default 30s.
	DataTimeout time.Duration `yaml:"data_timeout"`
}

// Defaults documented on the fields above.
const (
	DefaultBanner            = "FTP server ready"
	DefaultUploadDir         = "incoming"
	DefaultMaxSessions       = 500
	DefaultMaxSessionsPerIP  = 20
	DefaultIdleTimeout       = 5 * time.Minute
	DefaultLoginTimeout      = time.Minute
	DefaultLoginFailures     = 3
	DefaultLoginFailureDelay = time.Second
	DefaultDataTimeout       = 30 * time.Second
	DefaultPartialTTL        = images.DefaultPartialTTL
)

// DefaultPassivePorts is the passive range used when none is configured.
var DefaultPassivePorts = PortRange{First: 30000, Last: 30100}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.PassivePorts == (PortRange{}) {
		c.PassivePorts = DefaultPassivePorts
	}
	if c.Banner == "" {
		c.Banner = DefaultBanner
	}
	if c.Anonymous.Root == "" {
		c.Anonymous.Root = "/"
	}
	if c.UploadDir == "" {
		c.UploadDir = DefaultUploadDir
	}
	setDur(&c.PartialTTL, DefaultPartialTTL)
	users := make([]User, len(c.Users))
	for i, u := range c.Users {
		if u.Root == "" {
			u.Root = "/"
		}
		users[i] = u
	}
	c.Users = users
	l := &c.Limits
	setInt(&l.MaxSessions, DefaultMaxSessions)
	setInt(&l.MaxSessionsPerIP, DefaultMaxSessionsPerIP)
	setInt(&l.LoginFailures, DefaultLoginFailures)
	setDur(&l.IdleTimeout, DefaultIdleTimeout)
	setDur(&l.LoginTimeout, DefaultLoginTimeout)
	setDur(&l.LoginFailureDelay, DefaultLoginFailureDelay)
	setDur(&l.DataTimeout, DefaultDataTimeout)
	return c
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

// Validate checks a config that went through WithDefaults. Errors carry the
// YAML key path relative to the ftp section (Key method).
func (c Config) Validate() error {
	if err := c.PassivePorts.check(); err != nil {
		return cfgerr.New("passive_ports", err)
	}
	if c.PublicHost != "" {
		a, err := netip.ParseAddr(c.PublicHost)
		if err != nil || !a.Is4() {
			return cfgerr.New("public_host", errors.New("must be an IPv4 address"))
		}
	}
	if strings.ContainsAny(c.Banner, "\r\n\x00") {
		return cfgerr.New("banner", errors.New("must be one line"))
	}
	if _, err := images.Clean(c.Anonymous.Root); err != nil {
		return cfgerr.New("anonymous.root", err)
	}
	if err := c.validateAnonUpload(); err != nil {
		return err
	}
	if err := c.validateUsers(); err != nil {
		return err
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return cfgerr.New("tls", errors.New("cert and key must be set together"))
	}
	if c.TLS.Require && c.TLS.Cert == "" {
		return cfgerr.New("tls.require", errors.New("needs cert and key"))
	}
	if c.PartialTTL < 0 {
		return cfgerr.New("partial_ttl", errors.New("must not be negative"))
	}
	return c.Limits.validate()
}

func (c Config) validateAnonUpload() error {
	if !c.Anonymous.Upload {
		return nil
	}
	up, err := images.Clean(c.UploadDir)
	if err != nil {
		return cfgerr.Errorf("anonymous.upload", "upload folder: %w", err)
	}
	root, _ := images.Clean(c.Anonymous.Root)
	switch {
	case up == ".":
		return cfgerr.New("anonymous.upload", errors.New("the upload folder is the store root; anonymous uploads need a dedicated folder (images.uploads)"))
	case !within(up, root):
		return cfgerr.Errorf("anonymous.upload", "the upload folder %q is outside anonymous.root %q", up, root)
	case within(root, up):
		return cfgerr.Errorf("anonymous.upload", "anonymous.root %q is inside the upload-only folder %q", root, up)
	}
	return nil
}

// within reports whether cleaned store path p is dir or below it.
func within(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

func (c Config) validateUsers() error {
	seen := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch lower := strings.ToLower(u.Name); {
		case u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n\x00"):
			return cfgerr.New(key+".name", errors.New("must be a non-empty word"))
		case lower == "anonymous" || lower == "ftp":
			return cfgerr.New(key+".name", errors.New("reserved for anonymous logins"))
		case seen[u.Name]:
			return cfgerr.Errorf(key+".name", "duplicate user %q", u.Name)
		}
		seen[u.Name] = true
		if err := checkHash(u.PasswordHash); err != nil {
			return cfgerr.New(key+".password_hash", err)
		}
		if _, err := images.Clean(u.Root); err != nil {
			return cfgerr.New(key+".root", err)
		}
	}
	return nil
}

func (l Limits) validate() error {
	for _, v := range []struct {
		key string
		bad bool
	}{
		{"limits.max_sessions", l.MaxSessions < 0},
		{"limits.max_sessions_per_ip", l.MaxSessionsPerIP < 0},
		{"limits.login_failures", l.LoginFailures < 0},
		{"limits.idle_timeout", l.IdleTimeout < 0},
		{"limits.login_timeout", l.LoginTimeout < 0},
		{"limits.login_failure_delay", l.LoginFailureDelay < 0},
		{"limits.data_timeout", l.DataTimeout < 0},
	} {
		if v.bad {
			return cfgerr.New(v.key, errors.New("must not be negative"))
		}
	}
	return nil
}

// PortRange is an inclusive TCP port range written "first-last" in YAML.
type PortRange struct {
	First, Last int
}

// UnmarshalText parses "30000-30100" (or a single port "30000").
func (r *PortRange) UnmarshalText(b []byte) error {
	p, err := ParsePortRange(string(b))
	if err != nil {
		return err
	}
	*r = p
	return nil
}

// MarshalText writes the range as "first-last".
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// ParsePortRange parses "first-last" or a single port.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(lo))
	last, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("port range %q: want FIRST-LAST", s)
	}
	r := PortRange{First: first, Last: last}
	return r, r.check()
}

func (r PortRange) check() error {
	if r.First < 1024 || r.Last > 65535 || r.First > r.Last {
		return fmt.Errorf("port range %s: want 1024 <= first <= last <= 65535", r)
	}
	return nil
}
