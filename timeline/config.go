package timeline

import (
	"net"
	"net/netip"
	"time"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
)

// Config is the top-level `timeline:` section of the config file, plus
// what cmd/bootsrv fills in (the yaml:"-" fields). The zero value is the
// defaults. It is fixed when the Recorder is built: a reload that changes
// it needs a new Recorder (and loses what the old one held).
type Config struct {
	// Machines is how many machines are kept; past it the one seen least
	// recently is dropped with its events. Default (zero) 10000.
	Machines int `yaml:"machines"`
	// EventsPerMachine is how many events each machine keeps; past it its
	// oldest event is dropped. Default (zero) 64.
	EventsPerMachine int `yaml:"events_per_machine"`
	// UnresolvedIPs is how many addresses whose MAC could not be found are
	// kept, each with up to EventsPerMachine events; past it the one seen
	// least recently is dropped. Default (zero) 1024.
	UnresolvedIPs int `yaml:"unresolved_ips"`
	// AttachWindow is how old an event kept under an unresolved address may
	// be and still move to a MAC's timeline when an event ties that address
	// to the MAC (a DHCPACK, say). Older ones stay under the address, since
	// another machine may have held it. Default (zero) 10m.
	AttachWindow time.Duration `yaml:"attach_window"`
	// LoopFetches is how many complete fetches of the same first-stage
	// loader within LoopWindow make a boot loop. Default (zero) 3; at
	// least 2; -1 turns boot-loop detection off.
	LoopFetches int `yaml:"loop_fetches"`
	// LoopWindow is the window of LoopFetches, and how long a machine stays
	// flagged and unwarned after a loop. Default (zero) 10m.
	LoopWindow time.Duration `yaml:"loop_window"`

	// Resolve finds the MAC of an address, for events that carry only an
	// IP (TFTP, HTTP, FTP). cmd/bootsrv plugs in the DHCP leases and the
	// kernel neighbour table. It is called outside the recorder's lock, once
	// per such event, from many goroutines: it must be safe for concurrent
	// use and cheap. Zero: only addresses the recorder itself has seen
	// with a MAC are resolved.
	Resolve func(netip.Addr) (net.HardwareAddr, bool) `yaml:"-"`
	// Now is the clock. Zero: time.Now. Tests set it.
	Now func() time.Time `yaml:"-"`
}

// Defaults of Config.
const (
	DefaultMachines         = 10000
	DefaultEventsPerMachine = 64
	DefaultUnresolvedIPs    = 1024
	DefaultAttachWindow     = 10 * time.Minute
	DefaultLoopFetches      = 3
	DefaultLoopWindow       = 10 * time.Minute
)

// Upper bounds, so that a typo cannot ask for gigabytes (see the package
// doc for the memory a machine takes).
const (
	maxMachines         = 1_000_000
	maxEventsPerMachine = 4096
	maxLoopFetches      = 1000
)

// WithDefaults fills the zero fields that have defaults.
func (c Config) WithDefaults() Config {
	if c.Machines == 0 {
		c.Machines = DefaultMachines
	}
	if c.EventsPerMachine == 0 {
		c.EventsPerMachine = DefaultEventsPerMachine
	}
	if c.UnresolvedIPs == 0 {
		c.UnresolvedIPs = DefaultUnresolvedIPs
	}
	if c.AttachWindow == 0 {
		c.AttachWindow = DefaultAttachWindow
	}
	if c.LoopFetches == 0 {
		c.LoopFetches = DefaultLoopFetches
	}
	if c.LoopWindow == 0 {
		c.LoopWindow = DefaultLoopWindow
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks the values after defaults. Its errors are *cfgerr.Error
// with the key inside the timeline section (e.g. "loop_window").
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Machines < 1 || c.Machines > maxMachines:
		return cfgerr.Errorf("machines", "want 1 to %d, got %d", maxMachines, c.Machines)
	case c.EventsPerMachine < 1 || c.EventsPerMachine > maxEventsPerMachine:
		return cfgerr.Errorf("events_per_machine", "want 1 to %d, got %d", maxEventsPerMachine, c.EventsPerMachine)
	case c.UnresolvedIPs < 1 || c.UnresolvedIPs > maxMachines:
		return cfgerr.Errorf("unresolved_ips", "want 1 to %d, got %d", maxMachines, c.UnresolvedIPs)
	case c.AttachWindow < 0:
		return cfgerr.Errorf("attach_window", "must not be negative, got %s", c.AttachWindow)
	case c.LoopFetches != -1 && (c.LoopFetches < 2 || c.LoopFetches > maxLoopFetches):
		return cfgerr.Errorf("loop_fetches", "want 2 to %d, or -1 for off; got %d", maxLoopFetches, c.LoopFetches)
	case c.LoopWindow < 0:
		return cfgerr.Errorf("loop_window", "must not be negative, got %s", c.LoopWindow)
	}
	return nil
}
