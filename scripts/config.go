package scripts

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// Config is the top-level `scripts:` list of the config file, plus what
// cmd/bootsrv fills in from other sections (the yaml:"-" fields). The zero
// value serves no scripts.
type Config struct {
	// Scripts are the boot script templates. Zero: none.
	Scripts []Script `yaml:"scripts"`

	// Dir is the directory relative `file:` paths are read from: the
	// config file's directory. Zero: the working directory.
	Dir string `yaml:"-"`
	// Hosts are the DHCP reservations (dhcp.hosts): the known machines.
	// Templates are checked against each of them at load. Zero: none, every
	// machine renders with .Known false.
	Hosts []Host `yaml:"-"`
	// Leases finds the DHCP lease held by an address. Zero: no DHCP
	// lookups; machines are found by ?mac= and the neighbour table only.
	Leases func(ip netip.Addr) (Lease, bool) `yaml:"-"`
	// Neighbours finds the MAC address of a peer on a directly attached
	// link (bootsrv: the kernel's neighbour table, see netboot). Zero: no
	// lookups; machines are found by ?mac= and DHCP leases only.
	Neighbours func(ip netip.Addr) (net.HardwareAddr, bool) `yaml:"-"`
	// Events is told of every render, for the boot timeline. Zero: nobody
	// is.
	Events event.Sink `yaml:"-"`
	// HTTPAddr is http.listen, for .HTTPBase in scripts sent over TFTP
	// (over HTTP the connection's own address is used). Zero or "off":
	// .HTTPBase is empty in TFTP renders.
	HTTPAddr string `yaml:"-"`
	// ServerIP is .ServerIP when a request's local address is unknown
	// (dhcp.server_ip). Zero: empty then.
	ServerIP string `yaml:"-"`
	// ImagesPath is http.images_path, the URL path the image store and
	// scripts are served under, for .ImagesURL. Zero: /images/.
	ImagesPath string `yaml:"-"`
}

// Script is one entry of the scripts list.
type Script struct {
	// Name is what clients ask for: the TFTP file name, and
	// <http.images_path><name> over HTTP (/images/<name> by default). It
	// shadows an image store file of the same name. Required; cleaned
	// like store names (a leading / is dropped).
	Name string `yaml:"name"`
	// Template is the template text (Go text/template). Exactly one of
	// Template and File is set.
	Template string `yaml:"template"`
	// File is a template file, relative to the config file's directory
	// (not the image store: a template is configuration, and the store is
	// readable by every client). Read once, at load.
	File string `yaml:"file"`
}

// Host is a reservation as templates see it (.Host).
type Host struct {
	MAC      string            // as configured, may be empty (client_id reservations)
	IP       string            // reserved address, may be empty
	Hostname string            // may be empty
	Bootfile string            // the host's PXE bootfile override, may be empty
	Vars     map[string]string // dhcp.hosts[].vars, never nil
	// Key is where the reservation is configured, e.g. "dhcp.hosts[2]",
	// for error messages.
	Key string
}

// Lease is what the DHCP server knows about the client holding an address.
type Lease struct {
	MAC      net.HardwareAddr
	Hostname string // reservation's or client-sent; may be empty
	Arch     int    // RFC 4578 option 93; -1 unknown
	Host     *Host  // the reservation the DHCP server matched; nil none
}

// WithDefaults fills the zero fields that have defaults.
func (c Config) WithDefaults() Config {
	if c.Dir == "" {
		c.Dir = "."
	}
	if c.ImagesPath == "" {
		c.ImagesPath = "/images/"
	}
	return c
}

// Validate checks every script: names, files, and each template parsed and
// executed for every host and for an unknown machine. Errors
// are *cfgerr.Error with the key (e.g. "scripts[1].template") and, for
// template errors, the template's line.
func (c Config) Validate() error {
	_, err := c.WithDefaults().compile()
	return err
}

// compile reads, parses and checks every script.
func (c Config) compile() (map[string]*script, error) {
	out := map[string]*script{}
	for i, sc := range c.Scripts {
		key := fmt.Sprintf("scripts[%d]", i)
		name, err := images.Clean(sc.Name)
		switch {
		case sc.Name == "":
			return nil, cfgerr.New(key+".name", fmt.Errorf("required: the name clients ask for, e.g. boot.ipxe"))
		case err != nil || name == ".":
			return nil, cfgerr.New(key+".name", fmt.Errorf("%q is not a usable file name", sc.Name))
		}
		if j, dup := out[name]; dup {
			return nil, cfgerr.New(key+".name", fmt.Errorf("%q is also scripts[%d]", name, j.index))
		}
		if (sc.Template == "") == (sc.File == "") {
			return nil, cfgerr.New(key, fmt.Errorf("set exactly one of template and file"))
		}
		text, where, tkey := sc.Template, "", key+".template"
		if sc.File != "" {
			tkey = key + ".file"
			path := sc.File
			if !filepath.IsAbs(path) {
				path = filepath.Join(c.Dir, path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, cfgerr.New(tkey, err)
			}
			text, where = string(b), path
		}
		s, err := parse(name, text)
		if err == nil {
			err = c.check(s)
		}
		if err != nil {
			line, reason := templateError(name, err)
			if where != "" { // a file: name it, with its line
				if line > 0 {
					where = fmt.Sprintf("%s:%d", where, line)
				}
				return nil, cfgerr.New(tkey, fmt.Errorf("%s: %s", where, reason))
			}
			if line > 0 {
				reason = fmt.Sprintf("template line %d: %s", line, reason)
			}
			return nil, &cfgerr.Error{Key: tkey, Err: fmt.Errorf("%s", reason), Line: line}
		}
		s.index = i
		out[name] = s
	}
	return out, nil
}

// archNames are the RFC 4578 §2.1 architecture types (and the IANA
// registry's HTTP boot ones) templates see by name in .Arch.
var archNames = map[int]string{
	0: "bios", 6: "efi32", 7: "efi64", 9: "efi64", 10: "arm32", 11: "arm64",
	15: "efi32", 16: "efi64", 18: "arm32", 19: "arm64",
}

// archName is .Arch for an option 93 value: a name above, "archN" for
// others, "" for unknown (-1).
func archName(code int) string {
	if code < 0 {
		return ""
	}
	if n, ok := archNames[code]; ok {
		return n
	}
	return fmt.Sprintf("arch%d", code)
}

// parseArch reads ?arch=: a number or one of the names.
func parseArch(s string) (int, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s && n >= 0 && n < 1<<16 {
		return n, true
	}
	for _, code := range []int{0, 6, 7, 10, 11} { // one code per name
		if archNames[code] == s {
			return code, true
		}
	}
	return -1, false
}
