package dhcp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/boot"
)

// ExplainQuery6 is a machine to explain over DHCPv6: what its SOLICIT
// says.
type ExplainQuery6 struct {
	// MAC is the client's hardware address. Required.
	MAC net.HardwareAddr
	// DUID is its DUID. Empty: DUID-LL of MAC, as many clients send.
	DUID []byte
	// Arch is option 61; -1 sends none.
	Arch int
	// VendorClass is option 16's data. Empty: PXEClient:Arch:NNNNN for an
	// Arch (HTTPClient:Arch:NNNNN for 15, 16, 19), else none.
	VendorClass string
	// UserClass is option 15, e.g. iPXE. Empty: none.
	UserClass string
	// LinkAddr is the link-address of the relay that forwards the
	// request; invalid: the request is local.
	LinkAddr netip.Addr
	// InterfaceID and RemoteID are options 18 and 37 that relay adds.
	InterfaceID, RemoteID string
}

// message is the SOLICIT q stands for, relayed when q says so, and the
// link-local address it comes from (EUI-64 of MAC).
func (q ExplainQuery6) message() (dhcpv6.DHCPv6, *dhcpv6.Message) {
	m := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeSolicit, TransactionID: dhcpv6.TransactionID{1, 2, 3}}
	duid := q.DUID
	if len(duid) == 0 {
		duid = (&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: q.MAC}).ToBytes()
	}
	m.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionClientID, OptionData: duid})
	m.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, 1}})
	vc := q.VendorClass
	if vc == "" && q.Arch >= 0 {
		vc = fmt.Sprintf("PXEClient:Arch:%05d", q.Arch)
		if q.Arch == boot.ArchEFI32HTTP || q.Arch == boot.ArchEFI64HTTP || q.Arch == boot.ArchARM64HTTP {
			vc = fmt.Sprintf("HTTPClient:Arch:%05d", q.Arch)
		}
	}
	if vc != "" {
		m.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte(vc)}})
	}
	if q.Arch >= 0 {
		m.AddOption(dhcpv6.OptClientArchType(iana.Arch(q.Arch)))
	}
	if q.UserClass != "" {
		m.AddOption(&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte(q.UserClass)}})
	}
	if !q.LinkAddr.IsValid() {
		return m, m
	}
	peer := eui64(q.MAC)
	r, _ := dhcpv6.EncapsulateRelay(m, dhcpv6.MessageTypeRelayForward, q.LinkAddr.AsSlice(), peer.AsSlice())
	if q.InterfaceID != "" {
		r.AddOption(dhcpv6.OptInterfaceID([]byte(q.InterfaceID)))
	}
	if q.RemoteID != "" {
		r.AddOption(&dhcpv6.OptRemoteID{RemoteID: []byte(q.RemoteID)})
	}
	return r, m
}

// eui64 is the link-local address modified EUI-64 forms from mac.
func eui64(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	if len(mac) == 6 {
		b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15] = mac[0]^2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]
	}
	return netip.AddrFrom16(b)
}

// Explain says what the server would answer q's SOLICIT (and the REQUEST
// after it), from its config and leases as they are, holding nothing.
func (s *Server6) Explain(q ExplainQuery6) Explanation {
	ex := Explanation{Reply: "none", Steps: []string{}, Options: []ExplainOption{}}
	wire, _ := q.message()
	msg, hops, err := parse6(wire.ToBytes())
	if err != nil {
		ex.Why = "the request does not parse: " + err.Error()
		return ex
	}
	r := s.read6(msg, hops, netip.AddrPortFrom(eui64(q.MAC), 546))
	ex.Steps = append(ex.Steps, s.explainPolicy6(r)...)
	if s.comp().cfg.KnownClientsOnly && r.host == nil {
		ex.Why = "known_clients_only: no reservation for this DUID or MAC"
		return ex
	}
	p := s.network(r)
	if p == nil {
		ex.Why = "no pool serves this link (the relay's link-address, or server_ip)"
		return ex
	}
	ex.Pool = p.name
	k := keyForIA(r.duid, 1)
	now := s.now()
	ip, ok := s.table.preview(p, k, r.host, now)
	if !ok {
		ex.Why = "no free address in pool " + p.name
		if h := r.host; h != nil && h.ip.IsValid() {
			ex.Why = fmt.Sprintf("its reserved address %s (%s) is held by another client", h.ip, h.key)
		}
		return ex
	}
	ex.Address, ex.AddressWhy = ip.String(), "a free address of pool "+p.name
	if cur, had := s.table.current(k); r.host != nil && r.host.ip == ip {
		ex.AddressWhy = "reservation " + r.host.key
	} else if had && cur.IP == ip {
		ex.AddressWhy = "its current or last lease"
	}
	o := outcome6{resp: s.newReply(r, dhcpv6.MessageTypeReply)}
	o.resp.AddOption(iaWith([4]byte{0, 0, 0, 1}, p.leaseTime, ip))
	s.addConfig(r, p, &o)
	ex.Reply, ex.Bootfile, ex.DecidedBy = "reply", o.file, o.decided
	if u, err := url.Parse(o.file); err == nil {
		ex.NextServer = u.Host // where the client fetches it
	}
	ex.Options = explainOptions6(o.resp)
	return ex
}

// explainPolicy6 tells how the boot policy and the ZTP rules see r.
func (s *Server6) explainPolicy6(r *req6) []string {
	var steps []string
	switch vc := r.vendorClass; {
	case strings.Contains(string(r.userClass), "iPXE"):
		steps = append(steps, "client: iPXE (user class iPXE)")
	case strings.HasPrefix(vc, "HTTPClient"):
		steps = append(steps, "client: UEFI HTTP boot (vendor class HTTPClient)")
	case strings.HasPrefix(vc, "PXEClient"):
		steps = append(steps, "client: PXE firmware (vendor class PXEClient)")
	default:
		steps = append(steps, "client: no boot firmware (no PXEClient or HTTPClient vendor class, no iPXE user class): no boot file URL but from a ZTP rule")
	}
	if r.facts.arch != "" {
		steps = append(steps, "architecture: "+r.facts.arch)
	}
	switch h := r.host; {
	case h == nil:
		steps = append(steps, "reservation: none for this DUID or MAC")
	case h.conf.Bootfile != "" || h.conf.IPXE != "":
		steps = append(steps, fmt.Sprintf("reservation: %s overrides bootfile %q, ipxe %q", h.key, h.conf.Bootfile, h.conf.IPXE))
	default:
		steps = append(steps, fmt.Sprintf("reservation: %s, no boot override", h.key))
	}
	first := s.matchRule6(r)
	for i := range s.comp().rules {
		switch {
		case i == first:
			steps = append(steps, fmt.Sprintf("dhcpv6.rules[%d]: matches, and is the first that does: it applies", i))
		case first >= 0 && i > first:
			steps = append(steps, fmt.Sprintf("dhcpv6.rules[%d]: not tried, dhcpv6.rules[%d] came first", i, first))
		default:
			steps = append(steps, fmt.Sprintf("dhcpv6.rules[%d]: no match", i))
		}
	}
	return steps
}

// explainOptions6 lists the reply's options in code order.
func explainOptions6(m *dhcpv6.Message) []ExplainOption {
	out := []ExplainOption{}
	for _, o := range m.Options.Options {
		v := o.ToBytes()
		e := ExplainOption{Code: int(o.Code()), Name: o.Code().String(), Hex: hex.EncodeToString(v)}
		switch o.Code() {
		case dhcpv6.OptionBootfileURL:
			e.Value = string(v)
		case dhcpv6.OptionClientID, dhcpv6.OptionServerID:
			e.Value = hexColons(v)
		default:
			// The library's text, without the option's name in front.
			_, e.Value, _ = strings.Cut(o.String(), ": ")
			if e.Value == "" {
				e.Value = o.String()
			}
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// NewExplainer6 is a Server6 for Explain only, with no socket and no lease
// store: it answers from cfg and the leases given (none: as for machines
// it has never seen). When the server's address is neither configured
// nor found on the interface, note says what stands for it.
func NewExplainer6(cfg Config6, leases []Lease) (s *Server6, note string, err error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, "", err
	}
	if !c.cfg.Enabled() {
		return nil, "", errors.New("dhcpv6 is off in this config (it needs dhcpv6.mode and dhcpv6.interface)")
	}
	serverIP := c.serverIP
	if !serverIP.IsValid() {
		if serverIP, err = interfaceAddr6(c.cfg.Interface); err != nil {
			serverIP = netip.IPv6Unspecified()
			note = fmt.Sprintf("dhcpv6.server_ip is not set and %v: the server's address shows as ::", err)
		}
	}
	c.resolve(serverIP)
	s = &Server6{log: zerolog.Nop(), now: time.Now, serverIP: serverIP, sample: &sampler{every: time.Second},
		readSample: &sampler{every: time.Second}, limit: newLimiter(c.cfg.RateLimit)}
	s.duid = serverDUID(interfaceHW(c.cfg.Interface), serverIP)
	s.serverID = &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionServerID, OptionData: s.duid}
	s.cur.Store(c)
	s.table = newTable6(c, leases)
	if s.m, err = newMetrics6(prometheus.NewRegistry(), s); err != nil {
		return nil, "", err
	}
	return s, note, nil
}
