package event

import (
	"fmt"
	"strconv"
	"strings"
)

// Service is the bootsrv service an event comes from. Its text form
// ("dhcp", "tftp"...) is what the timeline API shows.
type Service uint8

// The services.
const (
	_      Service = iota
	DHCP           // dhcp
	TFTP           // tftp
	HTTP           // http
	FTP            // ftp
	Script         // script: boot script renders
	DHCPv6         // dhcpv6
)

var serviceNames = [...]string{"", "dhcp", "tftp", "http", "ftp", "script", "dhcpv6"}

// Kind is what happened. Its text form ("dhcp_in", "transfer"...) is what
// the timeline API shows.
type Kind uint8

// The kinds of event.
const (
	_        Kind = iota
	DHCPIn        // dhcp_in: a DHCP message from the machine
	DHCPOut       // dhcp_out: a DHCP reply to it; File is the bootfile named
	Transfer      // transfer: a file read by the machine (TFTP RRQ, HTTP GET, FTP RETR)
	Upload        // upload: a file written by it (TFTP WRQ, FTP STOR)
	Login         // login: an FTP login; Detail is the user name
	Render        // render: a boot script rendered for it
	Refusal       // refusal: a request refused (rate limit, unknown client, no such file...)
	// BootLoop is made by the recorder, never by a service: the machine
	// fetched its first-stage loader too often (see package timeline).
	BootLoop // boot_loop
)

var kindNames = [...]string{"", "dhcp_in", "dhcp_out", "transfer", "upload", "login", "render", "refusal", "boot_loop"}

// Result is how an event ended.
type Result uint8

// The results. Zero is "no outcome" (a DHCP message coming in).
const (
	_      Result = iota
	OK            // ok
	Failed        // error: Detail says why
)

var resultNames = [...]string{"", "ok", "error"}

// MsgType is a DHCP message type, option 53 (RFC 2132 §9.6, RFC 4388
// §6.1); its values are those of the option, so a dhcpv4.MessageType
// converts directly. Zero: not a DHCP event.
type MsgType uint8

// The DHCP message types of RFC 2132 §9.6.
const (
	_ MsgType = iota
	Discover
	Offer
	Request
	Decline
	Ack
	Nak
	Release
	Inform
)

var msgTypeNames = [...]string{"", "discover", "offer", "request", "decline", "ack", "nak", "release", "inform"}

// The DHCPv6 message types of RFC 8415 §7.3 that have no DHCPv4 name, at
// 128 + their code; a DHCPv6 REQUEST, RELEASE and DECLINE are Request,
// Release and Decline (the event's Service, DHCPv6, tells the protocol).
// MsgTypeV6 converts a DHCPv6 code.
const (
	Solicit            MsgType = 128 + 1
	Advertise          MsgType = 128 + 2
	Confirm            MsgType = 128 + 4
	Renew              MsgType = 128 + 5
	Rebind             MsgType = 128 + 6
	Reply              MsgType = 128 + 7
	Reconfigure        MsgType = 128 + 10
	InformationRequest MsgType = 128 + 11
	RelayForw          MsgType = 128 + 12
	RelayRepl          MsgType = 128 + 13
)

var msgTypeV6Names = map[MsgType]string{
	Solicit: "solicit", Advertise: "advertise", Confirm: "confirm", Renew: "renew", Rebind: "rebind", Reply: "reply",
	Reconfigure: "reconfigure", InformationRequest: "information-request", RelayForw: "relay-forw", RelayRepl: "relay-repl",
}

// MsgTypeV6 is the MsgType of DHCPv6 message type code (RFC 8415 §7.3).
func MsgTypeV6(code uint8) MsgType {
	switch code {
	case 3:
		return Request
	case 8:
		return Release
	case 9:
		return Decline
	}
	if code >= 128 {
		return MsgType(code) // no such DHCPv6 type: shown as typeN
	}
	return 128 + MsgType(code)
}

func (s Service) String() string { return name(serviceNames[:], int(s), "service") }
func (k Kind) String() string    { return name(kindNames[:], int(k), "kind") }
func (r Result) String() string  { return name(resultNames[:], int(r), "result") }
func (m MsgType) String() string {
	if n, ok := msgTypeV6Names[m]; ok {
		return n
	}
	return name(msgTypeNames[:], int(m), "type")
}

// MarshalText is the name; a value without one is written "<what>N".
func (s Service) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
func (k Kind) MarshalText() ([]byte, error)    { return []byte(k.String()), nil }
func (r Result) MarshalText() ([]byte, error)  { return []byte(r.String()), nil }
func (m MsgType) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (s *Service) UnmarshalText(b []byte) error { return parse(serviceNames[:], b, "service", s) }
func (k *Kind) UnmarshalText(b []byte) error    { return parse(kindNames[:], b, "kind", k) }
func (r *Result) UnmarshalText(b []byte) error  { return parse(resultNames[:], b, "result", r) }
func (m *MsgType) UnmarshalText(b []byte) error {
	for v, n := range msgTypeV6Names {
		if n == string(b) {
			*m = v
			return nil
		}
	}
	var v MsgType
	if err := parse(msgTypeNames[:], b, "type", &v); err != nil {
		return err
	}
	if _, named := msgTypeV6Names[v]; named {
		return fmt.Errorf("unknown type %q", b) // written by its name, never typeN
	}
	*m = v
	return nil
}

func name(names []string, v int, what string) string {
	if v < len(names) {
		return names[v]
	}
	return what + strconv.Itoa(v)
}

func parse[T ~uint8](names []string, b []byte, what string, v *T) error {
	s := string(b)
	for i, n := range names {
		if n == s {
			*v = T(i)
			return nil
		}
	}
	if rest, ok := strings.CutPrefix(s, what); ok {
		if n, err := strconv.ParseUint(rest, 10, 8); err == nil && int(n) >= len(names) {
			*v = T(n)
			return nil
		}
	}
	return fmt.Errorf("unknown %s %q", what, s)
}
