package main

import (
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bootsrv/bootsrv/console"
	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/netboot"
	"github.com/bootsrv/bootsrv/web"
)

// The adapters below give the console (package console) what it shows,
// from the running services: it imports none of them.

// consoleStatus is the overview's data.
type consoleStatus struct {
	started   time.Time
	services  []console.Service // names and addresses; the state is asked each time
	health    *web.Health
	transfers *inflight.Registry
	rl        *reloader
	gather    prometheus.Gatherer
	web       *web.Server
}

func (s *consoleStatus) status() console.Status {
	st := console.Status{Version: buildVersion(), Started: s.started, Transfers: s.transfers.Running(),
		Counters: counters(s.gather), Auth: s.web.Auth(), TLS: s.web.TLS()}
	for _, svc := range s.services {
		svc.Down = s.health.State(svc.Name)
		st.Services = append(st.Services, svc)
	}
	if res, at, ok := s.rl.last(); ok {
		st.Reload = &console.Reload{At: at, OK: res.OK, Error: res.Error, Changed: res.Changed,
			NeedsRestart: res.NeedsRestart, Summary: res.Summary}
	}
	return st
}

// counterSpec is one number of the overview: the sum of metric's series
// whose label has one of values (none: all series).
type counterSpec struct {
	name, metric, label string
	values              []string
	bytes, bad          bool
}

// overviewCounters are the counters that matter at a glance; a metric
// that is not registered (its service is off) is left out.
var overviewCounters = []counterSpec{
	{name: "DHCP ACKs", metric: "bootsrv_dhcp_replies_total", label: "type", values: []string{"ack"}},
	{name: "DHCP NAKs", metric: "bootsrv_dhcp_replies_total", label: "type", values: []string{"nak"}, bad: true},
	{name: "DHCP drops", metric: "bootsrv_dhcp_drops_total", bad: true},
	{name: "leases in use", metric: "bootsrv_dhcp_leases_in_use"},
	{name: "pool addresses", metric: "bootsrv_dhcp_pool_size"},
	{name: "machines seen", metric: "bootsrv_timeline_machines"},
	{name: "boot loops", metric: "bootsrv_boot_loops_total", bad: true},
	{name: "TFTP transfers", metric: "bootsrv_tftp_transfers_total", label: "result", values: []string{"ok"}},
	{name: "TFTP failures", metric: "bootsrv_tftp_transfers_total", label: "result", values: []string{"timeout", "error", "shutdown"}, bad: true},
	{name: "TFTP refusals", metric: "bootsrv_tftp_refusals_total", bad: true},
	{name: "TFTP bytes", metric: "bootsrv_tftp_bytes_total", bytes: true},
	{name: "HTTP transfers", metric: "bootsrv_http_transfers_total", label: "result", values: []string{"ok", "partial"}},
	{name: "HTTP errors", metric: "bootsrv_http_transfers_total", label: "result", values: []string{"error"}, bad: true},
	{name: "HTTP bytes", metric: "bootsrv_http_bytes_total", bytes: true},
	{name: "FTP transfers", metric: "bootsrv_ftp_transfers_total", label: "result", values: []string{"ok"}},
	{name: "FTP failed logins", metric: "bootsrv_ftp_logins_total", label: "result", values: []string{"failure"}, bad: true},
	{name: "FTP bytes", metric: "bootsrv_ftp_bytes_total", bytes: true},
	{name: "reloads refused", metric: "bootsrv_config_reloads_total", label: "result", values: []string{"error"}, bad: true},
	{name: "console logins refused", metric: "bootsrv_http_auth_failures_total", label: "reason", values: []string{"wrong_credentials"}, bad: true},
}

// counters reads overviewCounters from g.
func counters(g prometheus.Gatherer) []console.Counter {
	fams, _ := g.Gather() // a partial result is still worth showing
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	var out []console.Counter
	for _, c := range overviewCounters {
		f := byName[c.metric]
		if f == nil {
			continue
		}
		sum := 0.0
		for _, m := range f.GetMetric() {
			if c.label != "" && !hasLabel(m, c.label, c.values) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
		out = append(out, console.Counter{Name: c.name, Value: sum, Bytes: c.bytes, Bad: c.bad})
	}
	return out
}

func hasLabel(m *dto.Metric, name string, values []string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			for _, v := range values {
				if l.GetValue() == v {
					return true
				}
			}
		}
	}
	return false
}

// leasePages pages and searches the DHCP server's leases for the console.
// A snapshot, with the text each search reads, is kept for a second: a
// page, the next one and a search in a row then cost one copy of the
// lease table, not one each.
type leasePages struct {
	list func() []dhcp.Lease // sorted by address
	ttl  time.Duration
	now  func() time.Time

	mu   sync.Mutex
	at   time.Time
	rows []leaseRow
}

type leaseRow struct {
	lease console.Lease
	text  string // lower-case MAC, IP, host name and client id, for search
}

func newLeasePages(list func() []dhcp.Lease) *leasePages {
	return &leasePages{list: list, ttl: time.Second, now: time.Now}
}

func (p *leasePages) snapshot() []leaseRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.rows != nil && now.Sub(p.at) < p.ttl {
		return p.rows
	}
	leases := p.list()
	rows := make([]leaseRow, len(leases))
	for i, l := range leases {
		cl := console.Lease{IP: l.IP.String(), MAC: l.MAC, ClientID: l.ClientID, Hostname: l.Hostname,
			Expiry: l.Expiry, Declined: l.Declined, Server: l.Server}
		rows[i] = leaseRow{lease: cl, text: strings.ToLower(cl.MAC + " " + cl.IP + " " + cl.Hostname + " " + cl.ClientID)}
	}
	p.rows, p.at = rows, now
	return rows
}

// Leases returns the leases whose MAC (written with : or -), IP, host name
// or client id contains q, in any case.
func (p *leasePages) Leases(q string, offset, limit int) console.LeasePage {
	rows := p.snapshot()
	q = strings.ToLower(strings.TrimSpace(q))
	mq := strings.ReplaceAll(q, "-", ":")
	var page console.LeasePage
	for i := range rows {
		if q != "" && !strings.Contains(rows[i].text, q) && !strings.Contains(rows[i].text, mq) {
			continue
		}
		if page.Total >= offset && len(page.Leases) < limit {
			page.Leases = append(page.Leases, rows[i].lease)
		}
		page.Total++
	}
	return page
}

// uploadArea is the upload folder as the console reads it: through a
// Trusted view of the store (the folder is write-only for everyone else),
// with the uploader of each file when the server remembers it.
type uploadArea struct {
	store     *images.Store // a Trusted view
	dir       string        // images.uploads, cleaned
	transfers *inflight.Registry
}

// maxUploadsListed bounds one listing of the upload area.
const maxUploadsListed = 10000

func (u uploadArea) List() ([]console.Upload, error) {
	var out []console.Upload
	var walk func(rel string, depth int) error
	walk = func(rel string, depth int) error {
		entries, err := u.store.List(path.Join(u.dir, rel))
		if err != nil {
			return err
		}
		for _, fi := range entries {
			name := path.Join(rel, fi.Name())
			if fi.IsDir() {
				if depth < 8 {
					if err := walk(name, depth+1); err != nil && !errors.Is(err, images.ErrNotFound) {
						return err
					}
				}
				continue
			}
			if !fi.Mode().IsRegular() || len(out) >= maxUploadsListed {
				continue
			}
			up := console.Upload{Name: name, Size: fi.Size(), Time: fi.ModTime()}
			if who, ok := u.transfers.Uploader(path.Join(u.dir, name)); ok {
				up.Service, up.User, up.Peer = who.Service, who.User, who.Peer
			}
			out = append(out, up)
		}
		return nil
	}
	if err := walk("", 0); err != nil && !errors.Is(err, images.ErrNotFound) {
		return nil, err
	}
	return out, nil
}

func (u uploadArea) Open(name string) (io.ReadSeekCloser, fs.FileInfo, error) {
	n, err := images.Join(u.dir, name)
	if err != nil || n == u.dir {
		return nil, nil, console.ErrNotFound
	}
	f, fi, err := u.store.Open(n)
	switch {
	case errors.Is(err, images.ErrNotFound), errors.Is(err, images.ErrIsDir), errors.Is(err, images.ErrInvalidName), errors.Is(err, images.ErrNotDir):
		return nil, nil, console.ErrNotFound
	case err != nil:
		return nil, nil, err
	}
	return f, fi, nil
}

// consoleExplainer answers the console's explain form as GET /api/explain
// does.
func consoleExplainer(layer *netboot.Layer, ex netboot.Explainer) console.Explainer {
	return func(get func(string) string) (console.Explanation, error) {
		q, err := netboot.ParseQuery(get)
		if err != nil {
			return console.Explanation{}, err
		}
		e := layer.Explain(q, ex)
		out := console.Explanation{MAC: e.MAC, DHCPOff: e.DHCP == nil, Warnings: e.Warnings, Notes: e.Notes}
		if d := e.DHCP; d != nil {
			out.Reply, out.Why, out.Address, out.AddressWhy, out.Pool = d.Reply, d.Why, d.Address, d.AddressWhy, d.Pool
			out.NextServer, out.Bootfile, out.DecidedBy, out.Steps = d.NextServer, d.Bootfile, d.DecidedBy, d.Steps
			for _, o := range d.Options {
				out.Options = append(out.Options, console.Option{Code: o.Code, Name: o.Name, Value: o.Value})
			}
		}
		if b := e.Bootfile; b != nil {
			out.File = &console.BootFile{Name: b.Name, Kind: b.Kind, Size: b.Size, TFTP: b.TFTP, HTTP: b.HTTP, Script: b.Script}
		}
		return out, nil
	}
}

// isLoopback reports whether addr (host:port as bound) is reachable only
// from this host.
func isLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsLoopback()
}
