package console

import (
	"errors"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bootsrv/bootsrv/internal/inflight"
	"github.com/bootsrv/bootsrv/timeline"
)

// overview is the data of the overview and of its live part.
type overview struct {
	Status
	Running []transfer
}

// transfer is a transfer in flight, ready to show.
type transfer struct {
	inflight.Status
	Pct     int // -1 when the size is not known
	Elapsed time.Duration
	Rate    int64 // bytes a second so far
}

func (c *Console) overview() overview {
	st := c.src.Status()
	now := c.cfg.Now()
	o := overview{Status: st}
	for _, t := range st.Transfers {
		v := transfer{Status: t, Pct: -1, Elapsed: now.Sub(t.Started)}
		if t.Size > 0 {
			v.Pct = int(min(100, t.Bytes*100/t.Size))
		} else if t.Size == 0 && !t.Upload {
			v.Pct = 100
		}
		if s := v.Elapsed.Seconds(); s > 0.5 {
			v.Rate = int64(float64(t.Bytes) / s)
		}
		o.Running = append(o.Running, v)
	}
	return o
}

func (c *Console) serveOverview(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Prefix && r.URL.Path != "/" {
		c.fail(w, http.StatusNotFound, "No such page: "+r.URL.Path)
		return
	}
	c.render(w, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: c.overview()})
}

// serveLive is the overview's changing part alone, which the page's script
// fetches every few seconds.
func (c *Console) serveLive(w http.ResponseWriter, _ *http.Request) {
	c.render(w, http.StatusOK, "live", page{Data: c.overview()})
}

// listPage is the data of a list page.
type listPage[T any] struct {
	Q     string
	Error string // a bad request, shown above the list
	Rows  []T
	Pager pager
	Off   bool // the source is off (no DHCP, no upload area)
}

func (c *Console) serveMachines(w http.ResponseWriter, r *http.Request) {
	q, err := parseList(r.URL.Query())
	status := http.StatusOK
	data := listPage[timeline.Summary]{Q: q.Q}
	if err != nil {
		data.Error, status = err.Error(), http.StatusBadRequest
	}
	size := c.cfg.PageSize
	l := c.src.Machines.Machines(q.Q, q.offset(size), size)
	data.Rows = l.Machines
	data.Pager = newPager(Prefix+"machines", q, l.Total, len(l.Machines), size)
	c.render(w, status, "machines", page{Title: "Machines", Nav: "machines", Data: data})
}

// machinePage is a machine's timeline, each event with its offset from
// the first.
type machinePage struct {
	timeline.Machine
	ID    string
	Steps []step
}

type step struct {
	timeline.Entry
	N     int
	Since time.Duration // after the first event kept
}

func (c *Console) serveMachine(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var (
		m     timeline.Machine
		found bool
	)
	if mac, err := timeline.ParseMAC(id); err == nil {
		m, found = c.src.Machines.Machine(mac)
	} else if ip, err := netip.ParseAddr(id); err == nil {
		m, found = c.src.Machines.MachineByIP(ip)
	} else {
		c.fail(w, http.StatusBadRequest, "Not a MAC or IP address: "+id)
		return
	}
	if !found {
		c.fail(w, http.StatusNotFound, "No timeline for "+id+": not seen since bootsrv started, or dropped for more recent machines.")
		return
	}
	p := machinePage{Machine: m, ID: id}
	for i, e := range m.Events {
		p.Steps = append(p.Steps, step{Entry: e, N: i + 1, Since: e.Time.Sub(m.Events[0].Time)})
	}
	title := m.Summary.MAC
	if title == "" {
		title = m.Summary.IP
	}
	c.render(w, http.StatusOK, "machine", page{Title: title, Nav: "machines", Data: p})
}

func (c *Console) serveLeases(w http.ResponseWriter, r *http.Request) {
	q, err := parseList(r.URL.Query())
	status := http.StatusOK
	data := listPage[Lease]{Q: q.Q, Off: c.src.Leases == nil}
	if err != nil {
		data.Error, status = err.Error(), http.StatusBadRequest
	}
	if !data.Off {
		size := c.cfg.PageSize
		lp := c.src.Leases.Leases(q.Q, q.offset(size), size)
		data.Rows = lp.Leases
		data.Pager = newPager(Prefix+"leases", q, lp.Total, len(lp.Leases), size)
	}
	c.render(w, status, "leases", page{Title: "Leases", Nav: "leases", Data: data})
}

func (c *Console) serveUploads(w http.ResponseWriter, r *http.Request) {
	q, err := parseList(r.URL.Query())
	status := http.StatusOK
	data := listPage[Upload]{Q: q.Q, Off: c.src.Uploads == nil}
	if err != nil {
		data.Error, status = err.Error(), http.StatusBadRequest
	}
	if !data.Off {
		all, err := c.src.Uploads.List()
		if err != nil {
			data.Error, status = "The upload area could not be read: "+err.Error(), http.StatusInternalServerError
		}
		if q.Q != "" {
			needle := strings.ToLower(q.Q)
			all = slices.DeleteFunc(all, func(u Upload) bool {
				return !strings.Contains(strings.ToLower(u.Name), needle) && !strings.Contains(strings.ToLower(u.User), needle) &&
					!strings.Contains(u.Peer, needle)
			})
		}
		slices.SortStableFunc(all, func(a, b Upload) int { return b.Time.Compare(a.Time) })
		size := c.cfg.PageSize
		from := min(q.offset(size), len(all))
		data.Rows = all[from:min(from+size, len(all))]
		data.Pager = newPager(Prefix+"uploads", q, len(all), len(data.Rows), size)
	}
	c.render(w, status, "uploads", page{Title: "Uploads", Nav: "uploads", Data: data})
}

// serveDownload sends a file of the upload area as an attachment, never
// as a page: an uploaded file is whatever a device (or anyone who could
// upload) sent.
func (c *Console) serveDownload(w http.ResponseWriter, r *http.Request) {
	if c.src.Uploads == nil {
		c.fail(w, http.StatusNotFound, "There is no upload area.")
		return
	}
	name := r.PathValue("name")
	f, fi, err := c.src.Uploads.Open(name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			c.fail(w, http.StatusNotFound, "No such upload: "+name)
		} else {
			c.fail(w, http.StatusInternalServerError, "The upload could not be opened: "+err.Error())
		}
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// explainPage is the form and, once asked, the answer.
type explainPage struct {
	Form   map[string]string
	Asked  bool
	Error  string
	Result *Explanation
	Off    bool
	Archs  []string
}

// explainFields are the form's fields, the API's query parameters.
var explainFields = []string{"mac", "arch", "user_class", "vendor_class", "giaddr", "client_id", "circuit_id", "remote_id"}

func (c *Console) serveExplain(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	p := explainPage{Form: map[string]string{}, Off: c.src.Explain == nil,
		Archs: []string{"", "bios", "efi32", "efi64", "arm64", "http", "arm64-http"}}
	for _, f := range explainFields {
		p.Form[f] = v.Get(f)
	}
	status := http.StatusOK
	if p.Form["mac"] != "" && !p.Off {
		p.Asked = true
		res, err := c.src.Explain(func(k string) string { return p.Form[k] })
		if err != nil {
			p.Error, status = err.Error(), http.StatusBadRequest
		} else {
			p.Result = &res
		}
	}
	c.render(w, status, "explain", page{Title: "Explain", Nav: "explain", Data: p})
}
