package main

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/ftp"
	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/scripts"
	"github.com/bootsrv/bootsrv/tftp"
	"github.com/bootsrv/bootsrv/timeline"
	"github.com/bootsrv/bootsrv/web"
)

//go:embed default.yaml
var defaultConfig []byte

// Config is the whole config file. Every key is documented in
// deploy/bootsrv.example.yaml; key names are an interface and are never
// renamed.
type Config struct {
	Images struct {
		// Root is the image store directory. Default ./images.
		Root string `yaml:"root"`
		// Uploads is the folder inside Root where uploads land. Default incoming.
		Uploads string `yaml:"uploads"`
		// UploadsReadable serves what was uploaded into Uploads back to
		// readers: TFTP, HTTP /images/ and FTP users without write.
		// Default false: the folder is write-only for them (answered as
		// not found); FTP users with write read it, and anonymous FTP
		// never does.
		UploadsReadable bool `yaml:"uploads_readable"`
	} `yaml:"images"`
	Log struct {
		Level  string `yaml:"level"`  // debug, info, warn, error. Default info.
		Format string `yaml:"format"` // json or console. Default json.
	} `yaml:"log"`
	HTTP struct {
		Listen     string `yaml:"listen"` // /metrics, /healthz, the store. Default :8080.
		web.Config `yaml:",inline"`
	} `yaml:"http"`
	TFTP struct {
		Listen      string `yaml:"listen"` // Default :69 as root, :6969 otherwise.
		tftp.Config `yaml:",inline"`
	} `yaml:"tftp"`
	FTP struct {
		Listen     string `yaml:"listen"` // Default :21 as root, :2121 otherwise.
		ftp.Config `yaml:",inline"`
	} `yaml:"ftp"`
	DHCP dhcp.Config `yaml:"dhcp"`
	// DHCPv6 is the DHCPv6 server (dhcpv6.go). Default off.
	DHCPv6 dhcp.Config6 `yaml:"dhcpv6"`
	// Scripts are per-machine boot scripts (package scripts), served over
	// TFTP and at <http.images_path><name> over HTTP. Default none.
	Scripts []scripts.Script `yaml:"scripts"`
	// Timeline is the per-machine boot timeline (package timeline).
	Timeline timeline.Config `yaml:"timeline"`
	// ShutdownTimeout bounds how long transfers in flight may run on after
	// SIGINT or SIGTERM. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	source string            // file name, for messages
	file   string            // the config file, "" for the embedded default
	raw    []byte            // file contents, to find the line of a key
	flags  map[string]string // key -> flag that set it, for messages
}

// loadConfig reads file, or the embedded default when file is empty, puts
// the flags that were given (if any) over it and checks the result. Errors
// name the file, line and key, or the flag.
func loadConfig(file string, fl *serveFlags) (*Config, error) {
	cfg := &Config{source: "embedded default config", raw: defaultConfig, flags: map[string]string{}}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		cfg.source, cfg.raw, cfg.file = file, data, file
	}
	if err := yaml.UnmarshalWithOptions(cfg.raw, cfg, yaml.DisallowUnknownField()); err != nil {
		return nil, cfg.decodeError(err)
	}
	if fl != nil {
		fl.apply(cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeError turns a YAML decoding error into "file:line:col: message".
func (c *Config) decodeError(err error) error {
	var te interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &te) && te.GetToken() != nil {
		p := te.GetToken().Position
		return fmt.Errorf("%s:%d:%d: %s", c.source, p.Line, p.Column, te.GetMessage())
	}
	// Errors from value parsers (time.ParseDuration, UnmarshalText) carry
	// no position, but they quote the bad value: find where it is written.
	if m := quoted.FindStringSubmatch(err.Error()); m != nil {
		if key, line := c.findValue(m[1]); line > 0 {
			return fmt.Errorf("%s:%d: %s: %w", c.source, line, key, err)
		}
	}
	return fmt.Errorf("%s: %w", c.source, err)
}

var quoted = regexp.MustCompile(`"([^"]+)"`)

// findValue returns the key and line of the one scalar written as value,
// or a zero line when there is none or more than one.
func (c *Config) findValue(value string) (key string, line int) {
	found := 0
	for _, tk := range lexer.Tokenize(string(c.raw)) {
		if tk.Value != value || tk.Prev == nil || tk.Prev.Type != token.MappingValueType || tk.Prev.Prev == nil {
			continue
		}
		found++
		key, line = tk.Prev.Prev.Value, tk.Position.Line
	}
	if found != 1 {
		return "", 0
	}
	return key, line
}

// validate fills defaults and checks every value, its own and each
// service's. It may run twice (after flags), so defaults must be idempotent.
func (c *Config) validate() error {
	c.fillDefaults()
	checks := []struct {
		key string
		err error
	}{
		{"log.level", checkLevel(c.Log.Level)},
		{"log.format", checkOneOf(c.Log.Format, "json", "console")},
		{"http.listen", checkAddr(c.HTTP.Listen)},
		{"tftp.listen", checkAddr(c.TFTP.Listen)},
		{"ftp.listen", checkAddr(c.FTP.Listen)},
		{"images.uploads", checkUploads(c.Images.Uploads)},
		{"shutdown_timeout", checkPositive(c.ShutdownTimeout)},
	}
	for _, ch := range checks {
		if ch.err != nil {
			return c.keyError(ch.key, ch.err)
		}
	}
	sections := []struct {
		name string
		err  error
	}{
		{"http", c.HTTP.Config.Validate()},
		{"timeline", c.Timeline.WithDefaults().Validate()},
		{"tftp", c.TFTP.Config.Validate()},
		{"ftp", c.FTP.Config.Validate()},
		{"dhcp", c.DHCP.Validate()},
		{"dhcpv6", c.checkDHCPv6()},
	}
	for _, s := range sections {
		if s.err != nil {
			return c.keyErrorIn(s.name, s.err)
		}
	}
	// Scripts last: their templates are checked against dhcp.hosts.
	if err := c.scriptsConfig().Validate(); err != nil {
		return c.scriptsError(err)
	}
	return nil
}

func (c *Config) fillDefaults() {
	privileged := os.Geteuid() == 0
	setDefault(&c.Images.Root, "./images")
	setDefault(&c.Images.Uploads, "incoming")
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "json")
	setDefault(&c.HTTP.Listen, ":8080")
	c.HTTP.Config = c.HTTP.Config.WithDefaults()
	setDefault(&c.TFTP.Listen, map[bool]string{true: ":69", false: ":6969"}[privileged])
	setDefault(&c.FTP.Listen, map[bool]string{true: ":21", false: ":2121"}[privileged])
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	c.TFTP.Config = c.TFTP.Config.WithDefaults()
	c.FTP.UploadDir = c.Images.Uploads

	c.FTP.Config = c.FTP.Config.WithDefaults()
	c.DHCP = c.DHCP.WithDefaults()
	c.DHCPv6 = c.DHCPv6.WithDefaults()
}

// storeOptions are the image store's options from the images section and
// ftp.partial_ttl.
func (c *Config) storeOptions(log zerolog.Logger) images.Options {
	return images.Options{
		Uploads:         c.Images.Uploads,
		UploadsReadable: c.Images.UploadsReadable,
		PartialTTL:      c.FTP.PartialTTL,
		Log:             log.With().Str("service", "images").Logger(),
	}
}

// checkRoot reports a missing image store. It is not part of validate
// because a config may be checked on another machine than the one it runs
// on; serve calls it before opening any socket.
func (c *Config) checkRoot() error {
	if fi, err := os.Stat(c.Images.Root); err != nil || !fi.IsDir() {
		return c.keyError("images.root", fmt.Errorf("%q is not a directory (create it, or set -root)", c.Images.Root))
	}
	return nil
}

func setDefault(v *string, def string) {
	if *v == "" {
		*v = def
	}
}

// keyErrorIn names the file, line and key of err, an error of section
// (tftp, dhcp...): the key of a *cfgerr.Error is relative to the section.
func (c *Config) keyErrorIn(section string, err error) error {
	var ce *cfgerr.Error
	if errors.As(err, &ce) {
		return c.keyError(section+"."+ce.Key, ce.Err)
	}
	return c.keyError(section, err)
}

// keyError names where key was set: the flag that set it, or the file and
// line where it stands, or only the file when the value is a default.
func (c *Config) keyError(key string, err error) error {
	if flag, ok := c.flags[key]; ok {
		return fmt.Errorf("flag -%s: %w", flag, err)
	}
	if line := c.lineOf(key); line > 0 {
		return fmt.Errorf("%s:%d: %s: %w", c.source, line, key, err)
	}
	return fmt.Errorf("%s: %s: %w", c.source, key, err)
}

// lineOf finds the line of a dotted key path such as "dhcp.pools[0].range"
// in the raw file, or 0 when the key is not written there.
func (c *Config) lineOf(key string) int {
	f, err := parser.ParseBytes(c.raw, 0)
	if err != nil {
		return 0
	}
	for k := key; k != ""; k = parentKey(k) {
		p, err := yaml.PathString("$." + k)
		if err != nil {
			continue
		}
		if n, err := p.FilterFile(f); err == nil && n != nil && n.GetToken() != nil {
			return n.GetToken().Position.Line
		}
	}
	return 0
}

// parentKey drops the last element of a key path, so an error on a key the
// file does not spell out points at the nearest enclosing one it does.
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

func checkLevel(s string) error {
	if _, err := zerolog.ParseLevel(s); err != nil || s == "" {
		return fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
	}
	return nil
}

func checkOneOf(s string, allowed ...string) error {
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
}

// checkAddr accepts "off" or host:port with a numeric port.
func checkAddr(s string) error {
	if s == "off" {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port or off", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port number", s)
	}
	return nil
}

func checkUploads(s string) error {
	n, err := images.Clean(s)
	if err != nil {
		return err
	}
	if n == "." {
		return errors.New("must be a folder inside images.root, not the root itself")
	}
	return nil
}

func checkPositive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("must be positive, got %s", d)
	}
	return nil
}
