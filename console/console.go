package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console's pages are.
const Prefix = "/console/"

// Defaults of Config.
const (
	DefaultPageSize = 50
	maxPageSize     = 500
)

// Config is how the console is mounted and paged.
type Config struct {
	// Root also serves the overview at "/". Set it unless the image
	// store is served at the root (http.images_path "/").
	Root bool
	// PageSize is how many rows a list page shows. Default 50, at most 500.
	PageSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Sources are what the console shows. Status and Machines are required;
// a nil Leases, Uploads or Explain leaves its page saying it is off.
type Sources struct {
	Status   func() Status
	Machines Machines
	Leases   Leases
	Uploads  Uploads
	Explain  Explainer
}

// Machines is the boot timeline (*timeline.Recorder).
type Machines interface {
	Machines(q string, offset, limit int) timeline.List
	Machine(mac net.HardwareAddr) (timeline.Machine, bool)
	MachineByIP(ip netip.Addr) (timeline.Machine, bool)
}

// Status is what the overview shows.
type Status struct {
	Version   string
	Started   time.Time
	Services  []Service
	Transfers []inflight.Status
	// Reload is the last config reload; nil when there was none since
	// the start.
	Reload   *Reload
	Counters []Counter
	// Auth says whether the console needs a user (http.users), TLS
	// whether it is served over HTTPS.
	Auth, TLS bool
}

// Service is one service and its listener.
type Service struct {
	Name, Addr string
	// Down says why it is not serving, or is degraded; "" when it serves.
	Down string
}

// Reload is the result of a config reload.
type Reload struct {
	At                             time.Time
	OK                             bool
	Error                          string // why it was refused
	Changed, NeedsRestart, Summary []string
}

// Counter is one number of the overview.
type Counter struct {
	Name  string
	Value float64
	Bytes bool // shown as a size
	Bad   bool // nonzero is worth a look (errors, loops)
}

// Lease is one DHCP lease.
type Lease struct {
	IP, MAC, ClientID, Hostname string
	Expiry                      time.Time
	Declined                    bool
	Server                      string // who wrote it, in a shared store
}

// LeasePage is one page of leases and how many match in all.
type LeasePage struct {
	Total  int
	Leases []Lease
}

// Leases lists DHCP leases: those matching q (a part of the MAC, IP,
// host name or client id; "" all), sorted by address, offset and limit
// applied on the server.
type Leases interface {
	Leases(q string, offset, limit int) LeasePage
}

// Upload is a file in the upload area.
type Upload struct {
	Name string // inside the upload folder, "/"-separated
	Size int64
	Time time.Time
	// Service, User and Peer say who uploaded it, when known (the server
	// remembers recent uploads only since it started).
	Service, User, Peer string
}

// Uploads reads the upload area, which is write-only for every other
// reader.
type Uploads interface {
	// List returns the files in the upload area.
	List() ([]Upload, error)
	// Open opens the file name (as List names it) for a download.
	Open(name string) (io.ReadSeekCloser, fs.FileInfo, error)
}

// ErrNotFound is what Uploads.Open returns for a name that is not a file
// of the upload area.
var ErrNotFound = errors.New("not found")

// Console serves the pages.
type Console struct {
	cfg   Config
	src   Sources
	pages map[string]*template.Template
}

// New checks src and cfg and parses the templates.
func New(cfg Config, src Sources) (*Console, error) {
	if src.Status == nil || src.Machines == nil {
		return nil, errors.New("console: Status and Machines are required")
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.PageSize < 1 || cfg.PageSize > maxPageSize {
		return nil, fmt.Errorf("console: page size %d is not between 1 and %d", cfg.PageSize, maxPageSize)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, src: src, pages: map[string]*template.Template{}}
	base, err := template.New("").Funcs(c.funcs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	for name, files := range map[string][]string{
		"overview": {"overview", "live"}, "live": {"live"}, "machines": {"machines", "pager"},
		"machine": {"machine"}, "leases": {"leases", "pager"}, "uploads": {"uploads", "pager"},
		"explain": {"explain"}, "error": {"error"},
	} {
		t := template.Must(base.Clone())
		for _, f := range files {
			if t, err = t.ParseFS(templateFS, "templates/"+f+".html"); err != nil {
				return nil, err
			}
		}
		c.pages[name] = t
	}
	return c, nil
}

// Handlers are the console's routes by net/http.ServeMux pattern, to mount
// behind the HTTP server's access control.
func (c *Console) Handlers() map[string]http.Handler {
	static, _ := fs.Sub(staticFS, "static")
	h := map[string]http.Handler{
		"GET " + Prefix:                       http.HandlerFunc(c.serveOverview),
		"GET " + Prefix + "live":              http.HandlerFunc(c.serveLive),
		"GET " + Prefix + "machines":          http.HandlerFunc(c.serveMachines),
		"GET " + Prefix + "machines/{id}":     http.HandlerFunc(c.serveMachine),
		"GET " + Prefix + "leases":            http.HandlerFunc(c.serveLeases),
		"GET " + Prefix + "uploads":           http.HandlerFunc(c.serveUploads),
		"GET " + Prefix + "uploads/{name...}": http.HandlerFunc(c.serveDownload),
		"GET " + Prefix + "explain":           http.HandlerFunc(c.serveExplain),
		"GET " + Prefix + "static/":           cacheFor(time.Hour, http.StripPrefix(Prefix+"static/", http.FileServerFS(static))),
	}
	if c.cfg.Root {
		h["GET /{$}"] = http.HandlerFunc(c.serveOverview)
	}
	return h
}

// page is what every page template gets.
type page struct {
	Title string
	Nav   string // which tab is current
	Now   time.Time
	Data  any
}

// render runs template name into a buffer first, so that a template error
// is a clean 500 and not half a page, and sends it with the console's
// headers.
func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	p.Now = c.cfg.Now()
	var buf bytes.Buffer
	tmpl := c.pages[name]
	err := tmpl.ExecuteTemplate(&buf, "layout", p)
	if name == "live" {
		buf.Reset()
		err = tmpl.ExecuteTemplate(&buf, "live", p)
	}
	if err != nil {
		http.Error(w, "500 the page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// securityHeaders keep the pages to their own scripts and styles, out of
// frames and caches: they show the lab's machines.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age="+strconv.Itoa(int(d.Seconds())))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// fail shows an error page.
func (c *Console) fail(w http.ResponseWriter, status int, msg string) {
	c.render(w, status, "error", page{Title: http.StatusText(status), Data: struct {
		Status  int
		Message string
	}{status, msg}})
}
