package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// reloadResult is what a reload did, as SIGHUP logs it and POST
// /api/reload (and so `bootsrv reload`) answers it.
type reloadResult struct {
	// OK is false when the new config was refused: then nothing changed.
	OK bool `json:"ok"`
	// Error is why it was refused: file:line: key: reason.
	Error string `json:"error,omitempty"`
	// Changed are the keys whose new values are in effect now.
	Changed []string `json:"changed"`
	// Summary says what the change amounts to: hosts, users, rules and
	// scripts added and removed.
	Summary []string `json:"summary,omitempty"`
	// NeedsRestart are the keys whose new values differ from the ones
	// bootsrv started with and take effect only after a restart (listen
	// addresses, the image store, the HTTP server's limits...).
	NeedsRestart []string `json:"needs_restart"`
}

// livePart is one part of the config a reload applies while serving:
// prepare checks the new config and returns what swaps it in (nil when
// the part is not running).
type livePart struct {
	keys    []string // config key prefixes this part covers
	prepare func(*Config) (func(), error)
}

// reloader re-reads the config file and puts what may change while
// serving into effect, all or nothing.
type reloader struct {
	mu      sync.Mutex
	fl      *serveFlags
	started *Config // what the process started with: restart-only keys compare to it
	cur     *Config // what is in effect
	parts   []livePart
	log     zerolog.Logger
	// lastRes is the result of the last reload, at lastAt (zero: none
	// since the start), for the console.
	lastRes reloadResult
	lastAt  time.Time

	ok, at prometheus.Gauge
	total  *prometheus.CounterVec
}

func newReloader(cfg *Config, fl *serveFlags, parts []livePart, log zerolog.Logger, reg prometheus.Registerer) (*reloader, error) {
	r := &reloader{fl: fl, started: cfg, cur: cfg, parts: parts, log: log,
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bootsrv_config_last_reload_successful",
			Help: "1 when the last config reload (SIGHUP, bootsrv reload) was applied, 0 when it was refused and the previous config kept serving.",
		}),
		at: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bootsrv_config_last_reload_success_timestamp_seconds",
			Help: "When the config was last loaded successfully (start-up or reload), as a Unix time.",
		}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_config_reloads_total",
			Help: "Config reloads by result: ok (applied) or error (refused, nothing changed).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{r.ok, r.at, r.total} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	r.ok.Set(1)
	r.at.SetToCurrentTime()
	r.total.WithLabelValues("ok")
	r.total.WithLabelValues("error")
	return r, nil
}

// reload reads the config file again (with the command line's flags on
// top, as at start) and applies it: checked completely first, with the
// same file:line: key errors as bootsrv check; a bad config changes
// nothing and the old one keeps serving.
func (r *reloader) reload() reloadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := loadConfig(r.fl.configFile, r.fl)
	if err != nil {
		return r.refused(err)
	}
	var applies []func()
	for _, p := range r.parts {
		apply, err := p.prepare(next)
		if err != nil {
			return r.refused(err)
		}
		if apply != nil {
			applies = append(applies, apply)
		}
	}
	for _, apply := range applies {
		apply()
	}
	res := reloadResult{OK: true, Changed: []string{}, NeedsRestart: []string{}}
	for _, k := range changedKeys(r.cur, next) {
		if r.covers(k) {
			res.Changed = append(res.Changed, k)
		}
	}
	for _, k := range changedKeys(r.started, next) {
		if !r.covers(k) {
			res.NeedsRestart = append(res.NeedsRestart, k)
		}
	}
	res.Summary = summarise(r.cur, next)
	r.cur = next
	r.lastRes, r.lastAt = res, time.Now()
	r.ok.Set(1)
	r.at.SetToCurrentTime()
	r.total.WithLabelValues("ok").Inc()
	ev := r.log.Info()
	if len(res.NeedsRestart) > 0 {
		ev = r.log.Warn()
	}
	ev.Strs("changed", res.Changed).Strs("summary", res.Summary).Strs("needs_restart", res.NeedsRestart).
		Msg("config reloaded")
	return res
}

func (r *reloader) refused(err error) reloadResult {
	r.ok.Set(0)
	r.total.WithLabelValues("error").Inc()
	r.log.Error().Err(err).Msg("config reload refused; the previous config keeps serving")
	res := reloadResult{Error: err.Error(), Changed: []string{}, NeedsRestart: []string{}}
	r.lastRes, r.lastAt = res, time.Now()
	return res
}

// last is the result of the last reload and when it ran; ok is false when
// there was none since the start.
func (r *reloader) last() (res reloadResult, at time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastRes, r.lastAt, !r.lastAt.IsZero()
}

// add makes p part of every reload from now on, for a service built after
// the reloader (the HTTP server, whose routes include the reloader's).
func (r *reloader) add(p livePart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.parts = append(r.parts, p)
}

// restartOnly are keys inside live parts that are fixed while serving:
// the sockets, and what the FTP library and the store sweeper were given at
// start.
var restartOnly = []string{"tftp.listen", "ftp.listen", "ftp.passive_ports", "ftp.public_host",
	"ftp.active_any_port", "ftp.disable_active", "ftp.partial_ttl",
	"dhcp.mode", "dhcp.interface", "dhcp.server_ip", "dhcp.port", "dhcp.pxe_port", "dhcp.lease_file",
	"dhcp.lease_store", "dhcp.max_handlers", "dhcp.rate_limit", "dhcp.rogue_detection",
	"dhcpv6.mode", "dhcpv6.interface", "dhcpv6.server_ip", "dhcpv6.port", "dhcpv6.lease_file",
	"dhcpv6.lease_store", "dhcpv6.max_handlers", "dhcpv6.rate_limit", "dhcpv6.router_advertisements"}

// covers reports whether key is applied live by one of the parts.
func (r *reloader) covers(key string) bool {
	if hasPrefixKey(key, restartOnly) {
		return false
	}
	for _, p := range r.parts {
		if hasPrefixKey(key, p.keys) {
			return true
		}
	}
	return false
}

// hasPrefixKey reports whether key is one of prefixes or below one.
func hasPrefixKey(key string, prefixes []string) bool {
	for _, prefix := range prefixes {
		if key == prefix || strings.HasPrefix(key, prefix+".") || strings.HasPrefix(key, prefix+"[") {
			return true
		}
	}
	return false
}

// changedKeys lists the config keys (dotted paths, list entries by index)
// whose values differ between a and b, both with defaults filled. Only
// key names are reported, never values: a password hash changing shows
// as ftp.users[0].password_hash.
func changedKeys(a, b *Config) []string {
	var out []string
	diffValues("", yamlTree(a), yamlTree(b), &out)
	sort.Strings(out)
	return out
}

// yamlTree is c as generic YAML values, keyed as in the file.
func yamlTree(c *Config) any {
	data, err := yaml.Marshal(c)
	if err != nil {
		return nil
	}
	var tree any
	if err := yaml.Unmarshal(data, &tree); err != nil {
		return nil
	}
	return tree
}

func diffValues(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			diffValues(p, am[k], bm[k], out)
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		for i := range as {
			diffValues(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, path)
	}
}

// summarise counts what was added and removed among the named entries
// people change most: reservations, ZTP rules, FTP users, boot scripts.
func summarise(a, b *Config) []string {
	var out []string
	count := func(what string, before, after []string) {
		added, removed := setDiff(before, after), setDiff(after, before)
		if added+removed > 0 || len(before) != len(after) {
			out = append(out, fmt.Sprintf("%s: %d added, %d removed (%d now)", what, added, removed, len(after)))
		}
	}
	hostKeys := func(c *Config) (ks []string) {
		for _, h := range c.DHCP.Hosts {
			ks = append(ks, strings.ToLower(h.MAC)+"/"+h.ClientID)
		}
		return ks
	}
	userNames := func(c *Config) (ks []string) {
		for _, u := range c.FTP.Users {
			ks = append(ks, u.Name)
		}
		return ks
	}
	scriptNames := func(c *Config) (ks []string) {
		for _, s := range c.Scripts {
			ks = append(ks, s.Name)
		}
		return ks
	}
	ruleKeys := func(c *Config) (ks []string) {
		for _, r := range c.DHCP.Rules {
			d, _ := yaml.Marshal(r)
			ks = append(ks, string(d))
		}
		return ks
	}
	count("dhcp.hosts", hostKeys(a), hostKeys(b))
	count("dhcp.rules", ruleKeys(a), ruleKeys(b))
	count("ftp.users", userNames(a), userNames(b))
	count("scripts", scriptNames(a), scriptNames(b))
	return out
}

// setDiff is how many of b are not in a.
func setDiff(a, b []string) int {
	in := map[string]bool{}
	for _, s := range a {
		in[s] = true
	}
	n := 0
	for _, s := range b {
		if !in[s] {
			n++
		}
	}
	return n
}

// reloadPath is where POST asks the running server to reload (bootsrv
// reload).
const reloadPath = "/api/reload"

// handler answers POST /api/reload with the reloadResult as JSON: 200 when
// applied, 422 when the config was refused.
func (r *reloader) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		res := r.reload()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !res.OK {
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
		json.NewEncoder(w).Encode(res)
	})
}

// reloadOnHUP reloads on every SIGHUP until ctx is done.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, r *reloader) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload()
		}
	}
}

// logLevelPart applies log.level. The level lives in zerolog's global
// level, which every logger of the process consults before it builds an
// event (newLogger leaves the loggers' own level open).
func logLevelPart() livePart {
	return livePart{keys: []string{"log.level"}, prepare: func(c *Config) (func(), error) {
		lvl, err := zerolog.ParseLevel(c.Log.Level)
		if err != nil {
			return nil, c.keyError("log.level", err)
		}
		return func() { zerolog.SetGlobalLevel(lvl) }, nil
	}}
}

// runReload is "bootsrv reload": it asks the running server at the
// config's http.listen to reload its config file and prints what changed,
// or why the new config was refused (and exits non-zero).
func runReload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootsrv reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config `FILE` naming http.listen; default: the embedded default config")
	addr := fs.String("http-addr", "", "the running server's HTTP `ADDR`, when it was started with -http-addr; default: http.listen of the config")
	asJSON := fs.Bool("json", false, "print the server's JSON answer")
	user := userFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("reload: unexpected argument %q", fs.Arg(0))
	}
	// The running server reads its own config file; this one is read
	// only to find the server, so a config with errors can still be
	// reloaded (and refused with the server's own message).
	listen, cert, err := httpAccessOf(*configFile)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if *addr != "" {
		listen = *addr
	}
	api, err := newServerAPI(listen, cert, *user, 30*time.Second)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	base := api.base
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+reloadPath, nil)
	if err != nil {
		return err
	}
	resp, err := api.http.Do(req)
	if err != nil {
		return fmt.Errorf("reload: asking the server at %s: %w", base, err)
	}
	defer resp.Body.Close()
	var res reloadResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return fmt.Errorf("reload: %s answered %s", base, resp.Status)
	}
	if *asJSON {
		if err := writeIndented(stdout, res); err != nil {
			return err
		}
	} else {
		printReload(stdout, res)
	}
	if !res.OK {
		return errors.New("reload refused; the previous config keeps serving")
	}
	return nil
}

func printReload(w io.Writer, res reloadResult) {
	if !res.OK {
		fmt.Fprintf(w, "refused: %s\n", res.Error)
		return
	}
	if len(res.Changed) == 0 {
		fmt.Fprintln(w, "reloaded: nothing that applies while serving changed")
	} else {
		fmt.Fprintf(w, "reloaded: %s\n", strings.Join(res.Changed, ", "))
	}
	for _, s := range res.Summary {
		fmt.Fprintf(w, "  %s\n", s)
	}
	if len(res.NeedsRestart) > 0 {
		fmt.Fprintf(w, "needs a restart to take effect: %s\n", strings.Join(res.NeedsRestart, ", "))
	}
}

// httpListenOf is http.listen as a config file (empty: the embedded
// default) writes it, read without checking the rest of the file.
func httpListenOf(file string) (string, error) {
	listen, _, err := httpAccessOf(file)
	return listen, err
}

// httpAccessOf is http.listen and http.tls.cert of a config file, read
// without checking the rest of it.
func httpAccessOf(file string) (listen, cert string, err error) {
	data := defaultConfig
	if file != "" {
		if data, err = os.ReadFile(file); err != nil {
			return "", "", err
		}
	}
	var c struct {
		HTTP struct {
			Listen string `yaml:"listen"`
			TLS    struct {
				Cert string `yaml:"cert"`
				Key  string `yaml:"key"`
			} `yaml:"tls"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return "", "", fmt.Errorf("%s: %w", file, err)
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = ":8080"
	}
	if c.HTTP.TLS.Key == "" {
		c.HTTP.TLS.Cert = "" // as web.TLS.Enabled: both or plain HTTP
	}
	return c.HTTP.Listen, c.HTTP.TLS.Cert, nil
}
