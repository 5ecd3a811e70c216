package timeline

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// MachinesPath is where the HTTP server mounts the timeline API:
//
//	GET /api/machines?q=&offset=&limit=   List
//	GET /api/machines/{mac}               Machine; {mac} may also be an IP
const MachinesPath = "/api/machines"

// Page sizes of GET /api/machines: without ?limit= and at most.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Handlers are the API's handlers by net/http.ServeMux pattern, to mount
// as they are (cmd/bootsrv mounts each service's handlers this way). The
// machine handler reads the {mac} path value, so it needs its pattern.
//
// Errors are JSON {"error": "..."}: 400 for a bad query or a {mac} that is
// neither a MAC nor an IP, 404 for a machine not (or no longer) kept.
// Nothing secret is in the timeline (see event.Event.Detail), but it names
// every machine that boots here: mount it where /metrics is.
func (r *Recorder) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + MachinesPath:            http.HandlerFunc(r.serveList),
		"GET " + MachinesPath + "/{mac}": http.HandlerFunc(r.serveMachine),
	}
}

func (r *Recorder) serveList(w http.ResponseWriter, req *http.Request) {
	qv := req.URL.Query()
	offset, err := intParam(qv.Get("offset"), 0, 0, math.MaxInt)
	if err != nil {
		writeError(w, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	limit, err := intParam(qv.Get("limit"), DefaultLimit, 1, MaxLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, r.Machines(qv.Get("q"), offset, limit))
}

func (r *Recorder) serveMachine(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("mac")
	var (
		m     Machine
		found bool
	)
	if mac, err := ParseMAC(id); err == nil {
		m, found = r.Machine(mac)
	} else if ip, err := netip.ParseAddr(id); err == nil {
		m, found = r.MachineByIP(ip)
	} else {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is neither a MAC nor an IP address", id))
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no timeline for %s", id))
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// ParseMAC reads a MAC address written with colons, hyphens or dots, or
// as 12 hex digits (as iPXE's ${net0/mac:hexraw} gives it).
func ParseMAC(s string) (net.HardwareAddr, error) {
	s = strings.TrimSpace(s)
	if len(s) == 12 && !strings.ContainsAny(s, ":-.") {
		var b strings.Builder
		for i := 0; i < 12; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(s[i : i+2])
		}
		s = b.String()
	}
	return net.ParseMAC(s)
}

func intParam(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want a number from %d to %d, got %q", lo, hi, s)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// An error here is the client gone mid-response: nothing to tell it.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}
