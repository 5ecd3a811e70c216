package netboot

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/scripts"
)

// Explainer is what answers the DHCP part of an explanation: the running
// DHCP server, or one built from a config file (dhcp.NewExplainer).
type Explainer interface {
	Explain(q dhcp.ExplainQuery) dhcp.Explanation
}

// Explanation is what bootsrv would tell a machine and serve it, and why:
// the answer `bootsrv explain` prints and GET /api/explain serves.
type Explanation struct {
	MAC string `json:"mac"`
	// DHCP is the DHCP answer; nil when DHCP is off.
	DHCP *dhcp.Explanation `json:"dhcp,omitempty"`
	// Bootfile is what the bootfile the answer names is, for this machine.
	Bootfile *Bootfile `json:"bootfile,omitempty"`
	// Warnings are what would stop the boot: a bootfile missing from the
	// store, a script that fails for this machine.
	Warnings []string `json:"warnings"`
	// Notes say what the explanation assumed.
	Notes []string `json:"notes"`
}

// Bootfile describes the bootfile a machine is told to fetch.
type Bootfile struct {
	Name string `json:"name"`
	// Kind is file (in the image store), script (a boot script rendered
	// for the machine), url (fetched from elsewhere, or a URL of ours) or
	// missing.
	Kind string `json:"kind"`
	// Size is the file's size, or the rendered script's.
	Size int64 `json:"size,omitempty"`
	// Script is the rendered text of a boot script for this machine.
	Script string `json:"script,omitempty"`
	// TFTP and HTTP are the URLs it is served at by this server (none for
	// a url).
	TFTP string `json:"tftp_url,omitempty"`
	HTTP string `json:"http_url,omitempty"`
}

// Explain says what the machine q describes would get: the DHCP answer
// from ex (nil: DHCP is off), and what its bootfile is here.
func (l *Layer) Explain(q dhcp.ExplainQuery, ex Explainer) Explanation {
	out := Explanation{MAC: q.MAC.String(), Warnings: []string{}, Notes: []string{}}
	if ex == nil {
		out.Notes = append(out.Notes, "DHCP is off: machines get their boot information from another DHCP server")
		return out
	}
	d := ex.Explain(q)
	out.DHCP = &d
	if d.Bootfile == "" {
		return out
	}
	out.Bootfile = l.describe(d.Bootfile, d.NextServer, q)
	if out.Bootfile.Kind == "missing" {
		out.Warnings = append(out.Warnings, fmt.Sprintf("the bootfile %q is neither a boot script nor a file of the image store: the machine will not boot", d.Bootfile))
	}
	return out
}

// describe classifies name as this server serves it to the machine q.
func (l *Layer) describe(name, nextServer string, q dhcp.ExplainQuery) *Bootfile {
	b := &Bootfile{Name: name}
	if strings.Contains(name, "://") {
		b.Kind = "url"
		return b
	}
	sc := l.scripts.Config()
	b.TFTP = "tftp://" + scripts.URLHost(nextServer) + "/" + strings.TrimLeft(name, "/")
	if base := httpBase(sc.HTTPAddr, nextServer); base != "" {
		b.HTTP = base + sc.ImagesPath + strings.TrimLeft(name, "/")
	}
	arch := ""
	if q.Arch >= 0 {
		arch = fmt.Sprint(q.Arch)
	}
	data, ok, err := l.scripts.Preview(scripts.Request{Name: name, Protocol: "tftp", MAC: q.MAC.String(), Arch: arch,
		Local: addrOrZero(nextServer)})
	switch {
	case ok && err != nil:
		b.Kind, b.Script = "script", "(fails for this machine: "+err.Error()+")"
		return b
	case ok:
		b.Kind, b.Size, b.Script = "script", int64(len(data)), string(data)
		return b
	}
	// Stat answers as Open does: a name in the write-only upload area
	// is missing for everyone.
	if fi, err := l.store.Stat(name); err == nil && fi.Mode().IsRegular() {
		b.Kind, b.Size = "file", fi.Size()
	} else {
		b.Kind = "missing"
	}
	return b
}

// httpBase is http://host:port of the HTTP server as a machine reaches it:
// http.listen's host when it names one, else the server's address; an
// IPv6 address in brackets, without zone (scripts.URLHost).
func httpBase(listen, server string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return "http://" + scripts.URLHost(host) + ":" + port
	}
	if server == "" {
		return ""
	}
	return "http://" + scripts.URLHost(server) + ":" + port
}

func addrOrZero(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// archByName are the architectures `bootsrv explain -arch` and
// /api/explain take by name (RFC 4578 §2.1 and the IANA registry).
var archByName = map[string]int{"bios": 0, "efi32": 6, "efi64": 7, "arm64": 11, "http": 16, "arm64-http": 19}

// ParseQuery reads an explain query from named values (the CLI's flags,
// the API's query parameters): mac (required), arch (a name or number),
// user_class, vendor_class, giaddr, circuit_id, remote_id, client_id (hex,
// colons allowed).
func ParseQuery(get func(string) string) (dhcp.ExplainQuery, error) {
	q := dhcp.ExplainQuery{Arch: -1, UserClass: get("user_class"), VendorClass: get("vendor_class"),
		CircuitID: get("circuit_id"), RemoteID: get("remote_id")}
	mac, err := net.ParseMAC(strings.TrimSpace(get("mac")))
	if err != nil {
		return q, fmt.Errorf("mac %q is not a MAC address", get("mac"))
	}
	q.MAC = mac
	if a := strings.ToLower(strings.TrimSpace(get("arch"))); a != "" {
		n, ok := archByName[a]
		if !ok {
			if _, err := fmt.Sscan(a, &n); err != nil || n < 0 || n > 0xffff || fmt.Sprint(n) != a {
				return q, fmt.Errorf("arch %q is no architecture number or name (bios, efi32, efi64, arm64, http, arm64-http)", a)
			}
		}
		q.Arch = n
	}
	if c := strings.ReplaceAll(strings.TrimSpace(get("client_id")), ":", ""); c != "" {
		b, err := hex.DecodeString(c)
		if err != nil {
			return q, fmt.Errorf("client_id %q is not hex bytes", get("client_id"))
		}
		q.ClientID = b
	}
	if g := strings.TrimSpace(get("giaddr")); g != "" {
		a, err := netip.ParseAddr(g)
		if err != nil || !a.Is4() {
			return q, fmt.Errorf("giaddr %q is not an IPv4 address", g)
		}
		q.GIAddr = a
	}
	return q, nil
}

// ExplainHandler serves GET /api/explain?mac=...: the Explanation as JSON
// from the layer and ex (the running DHCP server; nil when it is off).
func (l *Layer) ExplainHandler(ex Explainer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		q, err := ParseQuery(r.URL.Query().Get)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(l.Explain(q, ex))
	})
}

// PrintExplanation writes e for people.
func PrintExplanation(w io.Writer, e Explanation) {
	fmt.Fprintf(w, "machine %s\n", e.MAC)
	for _, n := range e.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if d := e.DHCP; d != nil {
		if d.Reply == "none" {
			fmt.Fprintf(w, "dhcp: no answer: %s\n", d.Why)
		} else {
			fmt.Fprintf(w, "dhcp: %s", strings.ToUpper(d.Reply))
			if d.Address != "" {
				fmt.Fprintf(w, " %s (%s)", d.Address, d.AddressWhy)
			}
			fmt.Fprintln(w)
		}
		for _, s := range d.Steps {
			fmt.Fprintf(w, "  %s\n", s)
		}
		if d.Bootfile != "" {
			fmt.Fprintf(w, "boot: %s from %s, decided by %s\n", d.Bootfile, d.NextServer, d.DecidedBy)
		} else if d.Reply != "none" {
			fmt.Fprintln(w, "boot: no boot information")
		}
		if len(d.Options) > 0 {
			fmt.Fprintln(w, "options:")
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, o := range d.Options {
				fmt.Fprintf(tw, "  %d\t%s\t%s\n", o.Code, o.Name, o.Value)
			}
			tw.Flush()
		}
	}
	if b := e.Bootfile; b != nil {
		fmt.Fprintf(w, "bootfile %s: %s", b.Name, b.Kind)
		if b.Size > 0 {
			fmt.Fprintf(w, ", %d bytes", b.Size)
		}
		fmt.Fprintln(w)
		for _, u := range []string{b.TFTP, b.HTTP} {
			if u != "" {
				fmt.Fprintf(w, "  %s\n", u)
			}
		}
		if b.Script != "" {
			fmt.Fprintln(w, "script as this machine gets it:")
			for _, line := range strings.Split(strings.TrimRight(b.Script, "\n"), "\n") {
				fmt.Fprintf(w, "  | %s\n", line)
			}
		}
	}
	for _, wn := range e.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
}
