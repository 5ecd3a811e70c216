package scripts

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

// Machine is the data a template is executed with: the machine that asked.
type Machine struct {
	// Name is the script's name; Protocol "http" or "tftp".
	Name, Protocol string
	// MAC is the machine's hardware address (52:54:00:12:34:56), MACHyphen
	// the same with hyphens (52-54-00-12-34-56, as PXELINUX names its
	// files) and MACHex without separators; all empty when the machine
	// could not be identified.
	MAC, MACHyphen, MACHex string
	// IP is the address the request came from, an IPv6 one without its
	// zone (which names an interface of the server).
	IP string
	// Arch names the client architecture (RFC 4578 option 93): bios,
	// efi32, efi64, arm32, arm64, archN for other types, or empty when
	// unknown. ArchCode is the number, -1 when unknown.
	Arch     string
	ArchCode int
	// Hostname is the reservation's host name, else the one the client
	// sent in DHCP when it is a valid RFC 1123 host name, else empty.
	Hostname string
	// Known is true when a reservation matched: then Host is it.
	Known bool
	Host  Host
	// Vars is Host.Vars: dhcp.hosts[].vars, empty for unknown machines.
	// A key a host lacks is an error; use (index .Vars "key") for optional
	// ones.
	Vars map[string]string
	// ServerIP is the address the request reached bootsrv at, an IPv6 one
	// without its zone; HTTPBase is http://ServerIP:port of the HTTP
	// server (http://[ServerIP]:port for IPv6), or empty when it is off.
	ServerIP, HTTPBase string
	// ImagesURL is where the image store is on the HTTP server: HTTPBase
	// and http.images_path without its trailing slash
	// (http://10.0.0.1:8080/images; just HTTPBase when the path is "/"),
	// so {{.ImagesURL}}/linux/vmlinuz works for any images_path. Empty
	// when HTTPBase is.
	ImagesURL string
	// Source says how the machine was identified: query, lease, arp or
	// none.
	Source string
	// Rejected names a client-supplied value that was left out because it
	// was not valid ("hostname": option 12 that is no RFC 1123 host
	// name), for the log; empty when none was.
	Rejected string
}

// script is one compiled template.
type script struct {
	index int // position in the scripts list
	tmpl  *template.Template
}

// parse compiles a template; a reference to a map key that does not exist
// is an error (missingkey=error), not "<no value>" in a boot script.
func parse(name, text string) (*script, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	return &script{tmpl: t}, nil
}

func (s *script) execute(w io.Writer, m Machine) error { return s.tmpl.Execute(w, m) }

// sampleArchs are the architectures templates are checked with at load,
// unknown first.
var sampleArchs = []int{-1, 0, 7, 11}

// check executes s for every reservation and for unknown machines (with
// and without a MAC), on each sample architecture and protocol, so every
// field reference that these reach is checked now rather than at boot.
func (c Config) check(s *script) error {
	type sample struct {
		m    Machine
		what string
	}
	base := Machine{Name: s.tmpl.Name(), IP: "192.0.2.10", ServerIP: "192.0.2.1", Source: "none"}
	if c.HTTPAddr != "" && c.HTTPAddr != "off" {
		base.HTTPBase = "http://192.0.2.1:8080"
		base.ImagesURL = imagesURL(base.HTTPBase, c.ImagesPath)
	}
	unknown, unknownMAC := base, base
	unknownMAC.Source = "arp"
	setMAC(&unknownMAC, "02:00:00:00:00:01")
	samples := []sample{{unknown, "an unidentified machine"}, {unknownMAC, "a machine without reservation"}}
	for _, h := range c.Hosts {
		m := base
		m.Known, m.Host, m.Hostname, m.Source = true, h, h.Hostname, "lease"
		if h.IP != "" {
			m.IP = h.IP
		}
		setMAC(&m, h.MAC)
		samples = append(samples, sample{m, h.Key + " " + h.MAC})
	}
	for _, sm := range samples {
		if sm.m.Host.Vars == nil {
			sm.m.Host.Vars = map[string]string{}
		}
		sm.m.Vars = sm.m.Host.Vars
		for _, arch := range sampleArchs {
			for _, proto := range []string{"http", "tftp"} {
				m := sm.m
				m.ArchCode, m.Arch, m.Protocol = arch, archName(arch), proto
				if err := s.execute(io.Discard, m); err != nil {
					return fmt.Errorf("%w (rendering for %s, arch %s, over %s)", err, strings.TrimSpace(sm.what), orUnknown(m.Arch), proto)
				}
			}
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// setMAC fills the MAC fields from a MAC as configured or seen.
func setMAC(m *Machine, mac string) {
	mac = strings.ToLower(mac)
	m.MAC = mac
	m.MACHyphen = strings.ReplaceAll(mac, ":", "-")
	m.MACHex = strings.ReplaceAll(mac, ":", "")
}

// tmplPos matches the position text/template puts in its errors after
// "template: NAME:": "LINE:" or "LINE:COL:".
var tmplPos = regexp.MustCompile(`^(\d+)(?::\d+)?: (?:executing "[^"]*" at )?`)

// templateError splits a parse or execution error of template name into
// its line (0 when none) and the reason without the template's name.
func templateError(name string, err error) (int, string) {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "template: "+name+":")
	if !ok {
		return 0, msg
	}
	loc := tmplPos.FindStringSubmatch(rest)
	if loc == nil {
		return 0, rest
	}
	line, _ := strconv.Atoi(loc[1])
	return line, rest[len(loc[0]):]
}

// render executes s for m.
func (s *script) render(m Machine) ([]byte, error) {
	var b bytes.Buffer
	if err := s.execute(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
