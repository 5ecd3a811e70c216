package event

import (
	"net"
	"net/netip"
	"time"
)

// Event is one fact about one machine's boot, as a service saw it. It is a
// plain value: services build it on the stack and hand it to a Sink.
type Event struct {
	// Time is when it happened. Zero: the recorder stamps it on Record.
	Time time.Time
	// MAC is the machine's hardware address, if the service knows it. Nil:
	// the recorder finds it from IP. A Sink copies it; it may be reused.
	MAC net.HardwareAddr
	// IP is the machine's address as this event shows it (see the package
	// doc for which address to set on DHCP events). Zero: unknown.
	IP netip.Addr

	Service Service // who saw it
	Kind    Kind    // what happened
	Result  Result  // how it ended; zero for facts with no outcome (dhcp_in)

	// MsgType is the DHCP message type (RFC 2132 §9.6; for DHCPv6, RFC
	// 8415 §7.3 through MsgTypeV6): what came in for DHCPIn, what went out
	// for DHCPOut. Zero for other services.
	MsgType MsgType
	// Arch is the client architecture by name as the DHCP policy names it
	// from option 93 (RFC 4578 §2.1): "bios", "efi64", "arm64", "arch16"...
	// Empty: unknown.
	Arch string
	// VendorClass is DHCP option 60, e.g. "PXEClient:Arch:00007:UNDI:003016".
	VendorClass string
	// UserClass is DHCP option 77, e.g. "iPXE".
	UserClass string
	// Hostname is the machine's host name: its reservation's, or the one it
	// sent (option 12). Empty: unknown.
	Hostname string
	// File is the file transferred or rendered, or for DHCPOut the bootfile
	// the reply named (a name, or a URL for UEFI HTTP boot).
	File string
	// Bytes is how many bytes a transfer moved.
	Bytes int64
	// Duration is how long a transfer, login or render took.
	Duration time.Duration
	// Detail is the error text, the refusal reason or for a login the user
	// name. Never a secret: it is shown by the timeline API.
	Detail string
	// Rule is the config key of what decided the reply, e.g.
	// "dhcp.hosts[2]", "dhcp.rules[0]", "dhcp.boot.efi64", "scripts[1]".
	Rule string
}

// Sink receives events. Record must be safe for concurrent use, cheap
// (it runs on the service's goroutine) and must not retain e.MAC.
type Sink interface {
	Record(e Event)
}

// SinkFunc adapts a function to Sink, for tests and small adapters.
type SinkFunc func(Event)

// Record calls f(e).
func (f SinkFunc) Record(e Event) { f(e) }

// Discard is the Sink of a service that was given none: it drops events.
type Discard struct{}

// Record does nothing.
func (Discard) Record(Event) {}
