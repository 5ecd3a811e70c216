package timeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// ErrNotFound is what Client.Machine returns for a machine the server
// keeps no timeline of.
var ErrNotFound = errors.New("no timeline for that machine")

// Client reads the timeline API of a running bootsrv, for `bootsrv
// machines`.
type Client struct {
	// BaseURL is the server's HTTP address, e.g. "http://127.0.0.1:8080".
	BaseURL string
	// HTTP is the client to use. Zero: one with a 10s timeout.
	HTTP *http.Client
}

// List fetches one page of GET /api/machines.
func (c Client) List(ctx context.Context, q string, offset, limit int) (List, error) {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	v.Set("offset", strconv.Itoa(offset))
	v.Set("limit", strconv.Itoa(limit))
	var l List
	err := c.get(ctx, MachinesPath+"?"+v.Encode(), &l)
	return l, err
}

// All fetches every machine matching q, page by page. Machines seen while
// it runs may move between pages, so one may be missing or listed twice.
func (c Client) All(ctx context.Context, q string) ([]Summary, error) {
	var all []Summary
	for {
		l, err := c.List(ctx, q, len(all), MaxLimit)
		if err != nil {
			return nil, err
		}
		all = append(all, l.Machines...)
		if len(l.Machines) == 0 || len(all) >= l.Total {
			return all, nil
		}
	}
}

// Machine fetches GET /api/machines/{mac}; mac may also be an IP. It
// returns ErrNotFound for an unknown machine.
func (c Client) Machine(ctx context.Context, mac string) (Machine, error) {
	var m Machine
	err := c.get(ctx, MachinesPath+"/"+url.PathEscape(mac), &m)
	return m, err
}

func (c Client) get(ctx context.Context, path string, v any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.BaseURL, "/")+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		msg := resp.Status
		if json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e) == nil && e.Error != "" {
			msg = e.Error
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %s", ErrNotFound, msg)
		}
		return fmt.Errorf("GET %s: %s", req.URL.Path, msg)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", req.URL.Path, err)
	}
	return nil
}

// PrintList writes machines as a table, one line each; now dates LAST-SEEN.
func PrintList(w io.Writer, machines []Summary, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MAC\tIP\tHOSTNAME\tARCH\tLAST-SEEN\tLAST-STEP\tLOOP")
	for _, s := range machines {
		loop := "-"
		if s.BootLoop {
			loop = "LOOP"
		}
		mac := s.MAC
		if s.Unresolved {
			mac = "(unknown)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(mac), dash(s.IP), dash(s.Hostname), dash(s.Arch),
			ago(now, s.LastSeen), dash(s.LastStep), loop)
	}
	return tw.Flush()
}

// PrintMachine writes a machine's summary, then its timeline, one event a
// line, oldest first.
func PrintMachine(w io.Writer, m Machine) error {
	s := m.Summary
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range []struct{ k, v string }{
		{"MAC", s.MAC}, {"IP", s.IP}, {"Hostname", s.Hostname}, {"Arch", s.Arch},
		{"Vendor class", s.VendorClass}, {"User class", s.UserClass}, {"Bootfile", s.Bootfile},
		{"First seen", stamp(s.FirstSeen)}, {"Last seen", stamp(s.LastSeen)}, {"Last step", s.LastStep},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", f.k, dash(f.v))
	}
	if s.BootLoop {
		fmt.Fprintf(tw, "Boot loop:\tYES, last seen %s\n", stamp(s.LastBootLoop))
	} else if !s.LastBootLoop.IsZero() {
		fmt.Fprintf(tw, "Boot loop:\tnone now, last seen %s\n", stamp(s.LastBootLoop))
	}
	fmt.Fprintf(tw, "Events:\t%d kept of %d\n", s.Events, s.EventsTotal)
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTIME\tIP\tSERVICE\tKIND\tWHAT\tRESULT\tDETAIL")
	for _, e := range m.Events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format("2006-01-02T15:04:05.000Z07:00"),
			dash(e.IP), dash(e.Service.String()), dash(e.Kind.String()), dash(entryWhat(e)),
			dash(e.Result.String()), dash(entryDetail(e)))
	}
	return tw.Flush()
}

// entryWhat is the message type and file of an event.
func entryWhat(e Entry) string {
	parts := make([]string, 0, 2)
	if e.MsgType != 0 {
		parts = append(parts, e.MsgType.String())
	}
	if e.File != "" {
		parts = append(parts, e.File)
	}
	return strings.Join(parts, " ")
}

// entryDetail is the rest of an event that is set, as key=value.
func entryDetail(e Entry) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+strconv.Quote(v))
		}
	}
	if e.Bytes > 0 {
		parts = append(parts, "bytes="+strconv.FormatInt(e.Bytes, 10))
	}
	if e.DurationSeconds > 0 {
		parts = append(parts, "took="+time.Duration(e.DurationSeconds*float64(time.Second)).Round(time.Millisecond).String())
	}
	add("arch", e.Arch)
	add("vendor_class", e.VendorClass)
	add("user_class", e.UserClass)
	add("hostname", e.Hostname)
	add("rule", e.Rule)
	add("detail", e.Detail)
	return strings.Join(parts, " ")
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String() + " ago"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// dash is s for a table cell: "-" when empty, quoted when it holds
// anything but printable characters, since file names, host names and
// classes come from clients and must not drive the terminal.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return strconv.Quote(s)
		}
	}
	return s
}
