package dhcp

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/boot"
	"github.com/bootsrv/bootsrv/timeline/event"
)

// clientFacts are what a request says about the machine, for the log and
// the boot timeline.
type clientFacts struct {
	arch        string // by the policy's names; "" unknown
	vendorClass string // option 60
	userClass   string // option 77, as text
	hostname    string // option 12, as sent
}

func factsOf(req *dhcpv4.DHCPv4) clientFacts {
	f := clientFacts{vendorClass: req.ClassIdentifier(), hostname: req.HostName()}
	arch := -1
	if a := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
		arch = int(binary.BigEndian.Uint16(a))
	} else if isBootClient(f.vendorClass) {
		arch = boot.ArchFromVendorClass(f.vendorClass)
	}
	if arch >= 0 {
		f.arch = boot.ArchName(arch)
	}
	if uc := req.Options.Get(dhcpv4.OptionUserClassInformation); len(uc) > 0 {
		f.userClass = userClassText(uc)
	}
	return f
}

// userClassText reads option 77: RFC 3004 length-prefixed classes joined
// by commas, or, as iPXE and others send it, one plain string.
func userClassText(b []byte) string {
	var out []byte
	for rest := b; len(rest) > 0; {
		n := int(rest[0])
		if n == 0 || n >= len(rest) {
			return string(b) // not RFC 3004: a plain string
		}
		if len(out) > 0 {
			out = append(out, ',')
		}
		out = append(out, rest[1:1+n]...)
		rest = rest[1+n:]
	}
	return string(out)
}

// recordIn tells the boot timeline a request came in.
func (s *Server) recordIn(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, f clientFacts) {
	if s.events == nil {
		return
	}
	e := event.Event{MAC: req.ClientHWAddr, Service: event.DHCP, Kind: event.DHCPIn, MsgType: event.MsgType(mt),
		Arch: f.arch, VendorClass: f.vendorClass, UserClass: f.userClass, Hostname: f.hostname}
	if ip := ipOf(req.ClientIPAddr); ip.IsValid() && mt != dhcpv4.MessageTypeDiscover {
		e.IP = ip
	}
	s.events.Record(e)
}

// answered logs an ACK or NAK at info level (as dnsmasq logs DHCPACK: a
// successful boot leaves a line) and tells the boot timeline what went
// out: the bootfile and what decided it. decided is the config key of
// the rule, host or boot entry; "" when the reply carries no bootfile.
func (s *Server) answered(req, resp *dhcpv4.DHCPv4, f clientFacts, decided string, log zerolog.Logger) {
	if i, ok := strings.CutPrefix(decided, "dhcp.rules["); ok {
		s.m.rules.WithLabelValues(strings.TrimSuffix(i, "]")).Inc()
	}
	mt := msgType(resp)
	ip := ipOf(resp.YourIPAddr)
	if !ip.IsValid() {
		ip = ipOf(req.ClientIPAddr) // INFORM's ACK
	}
	file := resp.Options.Get(dhcpv4.OptionBootfileName)
	hostname := f.hostname
	if hn := resp.Options.Get(dhcpv4.OptionHostName); len(hn) > 0 {
		hostname = string(hn)
	}
	if mt == dhcpv4.MessageTypeAck {
		log.Info().Str("ip", ip.String()).Str("hostname", hostname).Str("arch", f.arch).
			Str("bootfile", string(file)).Str("decided_by", decided).Msg("dhcp ack")
	}
	if s.events == nil {
		return
	}
	e := event.Event{MAC: req.ClientHWAddr, Service: event.DHCP, Kind: event.DHCPOut, MsgType: event.MsgType(mt),
		Result: event.OK, Arch: f.arch, Hostname: hostname, File: string(file), Rule: decided}
	switch mt {
	case dhcpv4.MessageTypeAck:
		if ip.IsValid() {
			e.IP = ip // the address is the machine's now
		}
	case dhcpv4.MessageTypeNak:
		e.Result, e.Detail = event.Failed, string(resp.Options.Get(dhcpv4.OptionMessage))
	}
	s.events.Record(e)
}

// ruleKey is the config key of rule i, as decided_by names it.
func ruleKey(i int) string { return "dhcp.rules[" + strconv.Itoa(i) + "]" }
