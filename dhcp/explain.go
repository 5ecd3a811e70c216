package dhcp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/boot"
)

// ExplainQuery is a machine to explain: what its DHCP request says.
type ExplainQuery struct {
	// MAC is the client's hardware address. Required.
	MAC net.HardwareAddr
	// Arch is the client system architecture, option 93 (RFC 4578 §2.1);
	// -1 sends none.
	Arch int
	// VendorClass is option 60. Empty: PXEClient:Arch:NNNNN for an Arch
	// (HTTPClient:Arch:NNNNN for the HTTP boot ones, 15, 16, 19), else none.
	VendorClass string
	// UserClass is option 77, e.g. iPXE. Empty: none.
	UserClass string
	// GIAddr is the relay's address; invalid: the request is local.
	GIAddr netip.Addr
	// CircuitID and RemoteID are option 82 sub-options 1 and 2 a relay
	// adds. Empty: none.
	CircuitID, RemoteID string
	// ClientID is option 61 (RFC 2132 §9.14), which identifies the client
	// instead of its MAC when sent (UEFI firmware and dhcpcd send one).
	// Empty: none.
	ClientID []byte
}

// Explanation is what the server would answer an ExplainQuery, and why.
type Explanation struct {
	// Reply is the message type the exchange ends with (ack; for a proxy,
	// offer), or "none" when the server would not answer: then Why says
	// why.
	Reply string `json:"reply"`
	Why   string `json:"why,omitempty"`
	// Address is the address the client would get, and AddressWhy why
	// that one: its reservation, its lease, or a free one of the pool.
	Address    string `json:"address,omitempty"`
	AddressWhy string `json:"address_why,omitempty"`
	Pool       string `json:"pool,omitempty"`
	// NextServer and Bootfile are the boot information (siaddr and file
	// or options 66/67), DecidedBy the config key that chose the bootfile.
	NextServer string `json:"next_server,omitempty"`
	Bootfile   string `json:"bootfile,omitempty"`
	DecidedBy  string `json:"decided_by,omitempty"`
	// Steps are how the boot decision was reached: the client's kind and
	// architecture, the host override, each ZTP rule that matched or did
	// not.
	Steps []string `json:"steps"`
	// Options are every option of the reply, in code order.
	Options []ExplainOption `json:"options"`
}

// ExplainOption is one option of the reply.
type ExplainOption struct {
	Code  int    `json:"code"`
	Name  string `json:"name"`
	Value string `json:"value"` // as text where it reads as such
	Hex   string `json:"hex"`
}

// Explain says what the server would answer q, from its config and leases
// as they are, without sending or holding anything.
func (s *Server) Explain(q ExplainQuery) Explanation {
	req := q.request()
	c := s.comp()
	ex := Explanation{Reply: "none", Steps: []string{}, Options: []ExplainOption{}}
	_, h := s.client(req)
	facts := factsOf(req)
	ex.Steps = append(ex.Steps, explainPolicy(c, h, req, facts)...)
	ex.Steps = append(ex.Steps, explainRules(c, req)...)
	var resp *dhcpv4.DHCPv4
	var decided string
	if c.proxy {
		if !isBootClient(req.ClassIdentifier()) {
			ex.Why = "proxy mode answers PXE and HTTP boot clients only (option 60 PXEClient or HTTPClient)"
			return ex
		}
		var why string
		resp, _, decided, why = s.proxyReply(req, dhcpv4.MessageTypeOffer)
		if resp == nil {
			ex.Why = "nothing to boot: " + why
			return ex
		}
		ex.Reply = "offer"
	} else {
		p := s.network(req)
		if p == nil {
			ex.Why = "no pool serves this segment (giaddr or server_ip)"
			return ex
		}
		ex.Pool = p.name
		k, _ := s.client(req)
		ip, why, ok := s.table.preview(p, k, h, s.now())
		if !ok {
			ex.Why = why
			return ex
		}
		ex.Address, ex.AddressWhy, ex.Reply = ip.String(), why, "ack"
		resp, decided = s.reply(req, dhcpv4.MessageTypeAck, p, h, ip)
	}
	ex.DecidedBy = decided
	if b := resp.Options.Get(dhcpv4.OptionBootfileName); len(b) > 0 {
		ex.Bootfile = string(b)
		// Where the client fetches it: option 66, else siaddr, else (as
		// switches do with neither) the DHCP server itself.
		switch next := ipOf(resp.ServerIPAddr); {
		case len(resp.Options.Get(dhcpv4.OptionTFTPServerName)) > 0:
			ex.NextServer = string(resp.Options.Get(dhcpv4.OptionTFTPServerName))
		case next.IsValid():
			ex.NextServer = next.String()
		default:
			ex.NextServer = s.serverIP.String()
		}
	}
	ex.Options = explainOptions(resp)
	return ex
}

// request is the DISCOVER q stands for.
func (q ExplainQuery) request() *dhcpv4.DHCPv4 {
	req, _ := dhcpv4.NewDiscovery(q.MAC)
	vc := q.VendorClass
	if vc == "" && q.Arch >= 0 {
		vc = fmt.Sprintf("PXEClient:Arch:%05d", q.Arch)
		if q.Arch == boot.ArchEFI32HTTP || q.Arch == boot.ArchEFI64HTTP || q.Arch == boot.ArchARM64HTTP {
			vc = fmt.Sprintf("HTTPClient:Arch:%05d", q.Arch)
		}
	}
	if vc != "" {
		req.UpdateOption(dhcpv4.OptClassIdentifier(vc))
	}
	if q.Arch >= 0 {
		req.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{byte(q.Arch >> 8), byte(q.Arch)}))
	}
	if q.UserClass != "" {
		req.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionUserClassInformation, []byte(q.UserClass)))
	}
	if len(q.ClientID) > 0 {
		req.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientIdentifier, q.ClientID))
	}
	if q.GIAddr.IsValid() {
		req.GatewayIPAddr = q.GIAddr.AsSlice()
	}
	if q.CircuitID != "" || q.RemoteID != "" {
		var sub []byte
		if q.CircuitID != "" {
			sub = append(append(sub, 1, byte(len(q.CircuitID))), q.CircuitID...)
		}
		if q.RemoteID != "" {
			sub = append(append(sub, 2, byte(len(q.RemoteID))), q.RemoteID...)
		}
		req.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRelayAgentInformation, sub))
	}
	return req
}

// explainPolicy tells how the boot policy sees the request.
func explainPolicy(c *compiled, h *host, req *dhcpv4.DHCPv4, f clientFacts) []string {
	vc := req.ClassIdentifier()
	var steps []string
	switch uc := req.Options.Get(dhcpv4.OptionUserClassInformation); {
	case len(uc) > 0 && strings.Contains(string(uc), "iPXE"):
		steps = append(steps, "client: iPXE (user class iPXE)")
	case strings.HasPrefix(vc, "HTTPClient"):
		steps = append(steps, "client: UEFI HTTP boot (vendor class HTTPClient)")
	case strings.HasPrefix(vc, "PXEClient"):
		steps = append(steps, "client: PXE firmware (vendor class PXEClient)")
	default:
		steps = append(steps, "client: no boot firmware (no PXEClient or HTTPClient vendor class, no iPXE user class): no boot information but from a ZTP rule")
	}
	if f.arch != "" {
		steps = append(steps, "architecture: "+f.arch)
	}
	switch {
	case h == nil:
		steps = append(steps, "reservation: none for this MAC")
	case h.bootfile != "" || h.ipxe != "" || h.nextServer.IsValid():
		steps = append(steps, fmt.Sprintf("reservation: %s overrides bootfile %q, ipxe %q", h.key, h.bootfile, h.ipxe))
	default:
		steps = append(steps, fmt.Sprintf("reservation: %s, no boot override", h.key))
	}
	return steps
}

// explainRules says which ZTP rules match the request.
func explainRules(c *compiled, req *dhcpv4.DHCPv4) []string {
	rr := ruleRequestOf(req)
	first := matchRule(c.rules, rr)
	var steps []string
	for i := range c.rules {
		switch {
		case i == first:
			steps = append(steps, fmt.Sprintf("dhcp.rules[%d]: matches, and is the first that does: it applies", i))
		case c.rules[i].matches(rr):
			steps = append(steps, fmt.Sprintf("dhcp.rules[%d]: matches, but dhcp.rules[%d] came first", i, first))
		default:
			steps = append(steps, fmt.Sprintf("dhcp.rules[%d]: no match", i))
		}
	}
	return steps
}

// explainOptions lists resp's options in code order.
func explainOptions(resp *dhcpv4.DHCPv4) []ExplainOption {
	var out []ExplainOption
	for code, v := range resp.Options {
		o := ExplainOption{Code: int(code), Name: optionName(code), Hex: hex.EncodeToString(v)}
		o.Value = optionText(code, v)
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// optionText renders an option value as people write it: addresses,
// numbers, text; hex otherwise.
func optionText(code uint8, v []byte) string {
	switch knownOptions[int(code)] {
	case tIP, tIPs:
		if len(v)%4 == 0 && len(v) > 0 {
			var as []string
			for i := 0; i < len(v); i += 4 {
				as = append(as, netip.AddrFrom4([4]byte(v[i:i+4])).String())
			}
			return strings.Join(as, ", ")
		}
	case tU8, tU16, tU32, tI32:
		n := uint64(0)
		for _, b := range v {
			n = n<<8 | uint64(b)
		}
		return fmt.Sprint(n)
	case tText:
		if isPrintable(v) {
			return string(v)
		}
	}
	switch code {
	case 53:
		if len(v) == 1 {
			return strings.ToLower(dhcpv4.MessageType(v[0]).String())
		}
	case 54:
		if len(v) == 4 {
			return netip.AddrFrom4([4]byte(v)).String()
		}
	}
	if isPrintable(v) {
		return string(v)
	}
	return hex.EncodeToString(v)
}

func isPrintable(v []byte) bool {
	for _, b := range v {
		if b < 0x20 || b > 0x7e {
			return false
		}
	}
	return len(v) > 0
}

// preview is what pick would choose for client k in p, and why, without
// holding it or moving the allocation cursor.
func (t *leaseTable) preview(p *pool, k ClientKey, h *host, now time.Time) (netip.Addr, string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cursor, had := t.cursor[p]
	ip, ok := t.choose(p, k, h, netip.Addr{}, now)
	if had {
		t.cursor[p] = cursor
	} else {
		delete(t.cursor, p)
	}
	if !ok {
		if h != nil && h.ip.IsValid() && p.prefix.Contains(h.ip) {
			return netip.Addr{}, fmt.Sprintf("its reserved address %s (%s) is held by another client", h.ip, h.key), false
		}
		return netip.Addr{}, "no free address in pool " + p.name, false
	}
	a := addr(ip)
	switch {
	case h != nil && h.ip == a:
		return a, "reservation " + h.key, true
	case t.byKey[k] == ip && t.byIP[ip] != nil && now.Before(t.byIP[ip].lease.Expiry):
		return a, "its current lease", true
	case t.byKey[k] == ip:
		return a, "its last lease, expired but still free", true
	case t.offerKey[k] == ip:
		return a, "the address offered to it", true
	}
	return a, "a free address of pool " + p.name, true
}

// NewExplainer is a Server for Explain only, with no socket and no lease
// store: it answers from cfg and the leases given (those read from the
// lease file or database; none: as for machines it has never seen). When
// the server's address is neither configured nor found on the interface
// (explaining a config written for another machine), 0.0.0.0 stands for it
// and note says so.
func NewExplainer(cfg Config, leases []Lease) (s *Server, note string, err error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, "", err
	}
	if !c.cfg.Enabled() {
		return nil, "", errors.New("dhcp is off in this config (it needs dhcp.mode and dhcp.interface)")
	}
	serverIP := c.serverIP
	if !serverIP.IsValid() {
		if serverIP, err = interfaceAddr(c.cfg.Interface); err != nil {
			serverIP = netip.IPv4Unspecified()
			note = fmt.Sprintf("dhcp.server_ip is not set and %v: the server's address shows as 0.0.0.0", err)
		}
	}
	s = &Server{log: zerolog.Nop(), now: time.Now, serverIP: serverIP, sample: &sampler{every: time.Second},
		bcast: netip.AddrFrom4([4]byte{255, 255, 255, 255})}
	s.cur.Store(c)
	s.table = newLeaseTable(c, leases)
	reg := prometheus.NewRegistry()
	if s.m, err = newMetrics(reg, s); err != nil {
		return nil, "", err
	}
	if c.proxy {
		if err := s.startProxy(nil, reg); err != nil {
			return nil, "", err
		}
	}
	return s, note, nil
}

// optionName is the option's name as the dhcpv4 package knows it ("Subnet
// Mask"). Its named codes have an unexported type, so the name is reached
// by counting up from the one constant of that type with the code 0.
func optionName(code uint8) string {
	o := dhcpv4.OptionPad
	for range code {
		o++
	}
	return o.String()
}
