package dhcp

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newRequest(hw string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac(hw)), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest)}, mods...)...)
	if err != nil {
		panic(err)
	}
	return m
}

// selecting is a SELECTING REQUEST naming our server id and ip, with or
// without a DISCOVER before it.
func selecting(hw string, ip net.IP, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	return newRequest(hw, append([]dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))}, mods...)...)
}

// renewing is a RENEWING REQUEST (REBINDING when broadcast): ciaddr, no
// server id.
func renewing(hw string, ip net.IP, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	return newRequest(hw, append([]dhcpv4.Modifier{dhcpv4.WithClientIP(ip)}, mods...)...)
}

func leasedTo(ts *testServer, hw string, now time.Time) []Lease {
	var out []Lease
	for _, l := range ts.Leases() {
		if l.MAC == hw && l.Active(now) {
			out = append(out, l)
		}
	}
	return out
}

// TestRequestNeedsTheProtocol: a REQUEST binds only an address we offered
// to that client (SELECTING) or a lease we hold for it (RENEWING,
// REBINDING); anything else is NAKed, or ignored where RFC 2131 §4.3.2
// lets a non-authoritative server stay silent.
func TestRequestNeedsTheProtocol(t *testing.T) {
	const nak, ack, silent = dhcpv4.MessageTypeNak, dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNone
	tests := map[string]struct {
		notAuthoritative bool
		holdPercent      int
		setup            func(ts *testServer) *dhcpv4.DHCPv4
		want             dhcpv4.MessageType
		after            func(t *testing.T, ts *testServer)
	}{
		"selecting, never offered": {setup: func(*testServer) *dhcpv4.DHCPv4 {
			return selecting("52:54:00:19:00:01", net.IPv4(10, 0, 0, 150))
		}, want: nak},
		"selecting, never offered, not authoritative": {notAuthoritative: true, setup: func(*testServer) *dhcpv4.DHCPv4 {
			return selecting("52:54:00:19:00:01", net.IPv4(10, 0, 0, 150))
		}, want: nak},
		"selecting, offered to another client": {setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			o, _ := ts.exchange(discover("52:54:00:19:00:02"))
			return selecting("52:54:00:19:00:03", o.YourIPAddr)
		}, want: nak, after: func(t *testing.T, ts *testServer) {
			// The client we offered it to still gets it.
			if a := ts.dora("52:54:00:19:00:02"); !a.YourIPAddr.Equal(net.IPv4(10, 0, 0, 100)) {
				t.Errorf("offered client got %v", a.YourIPAddr)
			}
		}},
		"selecting, another address than offered": {setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			ts.exchange(discover("52:54:00:19:00:04"))
			return selecting("52:54:00:19:00:04", net.IPv4(10, 0, 0, 160))
		}, want: nak},
		"selecting, hold expired, within the grace": {setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			o, _ := ts.exchange(discover("52:54:00:19:00:05"))
			ts.clock = ts.clock.Add(45 * time.Second) // offer_time 30s
			ts.table.expireOffers(ts.clock)
			return requestFor(o)
		}, want: ack},
		"selecting, offer too old": {setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			o, _ := ts.exchange(discover("52:54:00:19:00:06"))
			ts.clock = ts.clock.Add(time.Minute)
			return requestFor(o)
		}, want: nak},
		"selecting, hold expired and address taken": {setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			o, _ := ts.exchange(discover("52:54:00:19:00:07"))
			ts.clock = ts.clock.Add(45 * time.Second)
			ts.dora("52:54:00:19:00:08", dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(o.YourIPAddr)))
			return requestFor(o)
		}, want: nak},
		"selecting, offer made past the cap (no hold)": {holdPercent: 1, setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			ts.exchange(discover("52:54:00:19:00:09")) // takes the one hold
			o, _ := ts.exchange(discover("52:54:00:19:00:0a"))
			if n := ts.table.caps.unheld; n != 1 {
				t.Fatalf("unheld offers %d", n)
			}
			return requestFor(o)
		}, want: ack},
		"selecting, own reservation without offer": {setup: func(*testServer) *dhcpv4.DHCPv4 {
			return selecting("52:54:00:00:00:50", net.IPv4(10, 0, 0, 50))
		}, want: ack},
		"selecting, another host's reservation": {setup: func(*testServer) *dhcpv4.DHCPv4 {
			return selecting("52:54:00:19:00:0b", net.IPv4(10, 0, 0, 50))
		}, want: nak},
		"selecting, retransmitted after the ACK": {setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			o, _ := ts.exchange(discover("52:54:00:19:00:0c"))
			ts.exchange(requestFor(o))
			ts.clock = ts.clock.Add(5 * time.Minute)
			return requestFor(o)
		}, want: ack},
		"renewing, no lease": {setup: func(*testServer) *dhcpv4.DHCPv4 {
			return renewing("52:54:00:19:00:0d", net.IPv4(10, 0, 0, 170))
		}, want: nak},
		"renewing, no lease, not authoritative": {notAuthoritative: true, setup: func(*testServer) *dhcpv4.DHCPv4 {
			return renewing("52:54:00:19:00:0d", net.IPv4(10, 0, 0, 170))
		}, want: silent},
		"rebinding, another client's lease": {setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			a := ts.dora("52:54:00:19:00:0e")
			return renewing("52:54:00:19:00:0f", a.YourIPAddr, dhcpv4.WithBroadcast(true))
		}, want: nak, after: func(t *testing.T, ts *testServer) {
			if len(leasedTo(ts, "52:54:00:19:00:0e", ts.clock)) != 1 {
				t.Error("the owner lost its lease")
			}
		}},
		"renewing, another client's expired lease": {notAuthoritative: true, setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			a := ts.dora("52:54:00:19:00:10")
			ts.clock = ts.clock.Add(2 * time.Hour)
			return renewing("52:54:00:19:00:11", a.YourIPAddr)
		}, want: silent},
		"renewing, own lease": {setup: func(ts *testServer) *dhcpv4.DHCPv4 {
			a := ts.dora("52:54:00:19:00:12")
			ts.clock = ts.clock.Add(40 * time.Minute)
			return renewing("52:54:00:19:00:12", a.YourIPAddr)
		}, want: ack},
		"renewing, own reservation without a lease": {setup: func(*testServer) *dhcpv4.DHCPv4 {
			return renewing("52:54:00:00:00:50", net.IPv4(10, 0, 0, 50))
		}, want: ack},
		"init-reboot, no record": {setup: func(*testServer) *dhcpv4.DHCPv4 {
			return newRequest("52:54:00:19:00:13", dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 180))))
		}, want: nak},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Authoritative = !tc.notAuthoritative
			cfg.OfferHoldPercent = tc.holdPercent
			ts := newTestServer(t, cfg)
			req := tc.setup(ts)
			naks := testutil.ToFloat64(ts.m.replies.WithLabelValues("nak"))
			r, _ := ts.exchange(req)
			got := silent
			if r != nil {
				got = r.MessageType()
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			hw := req.ClientHWAddr.String()
			if n := len(leasedTo(ts, hw, ts.clock)); tc.want != ack && n != 0 {
				t.Errorf("%s holds %d leases after a refused request", hw, n)
			}
			if tc.want == nak && testutil.ToFloat64(ts.m.replies.WithLabelValues("nak")) != naks+1 {
				t.Error("nak not counted")
			}
			if tc.want == silent && testutil.ToFloat64(ts.m.drops.WithLabelValues("not_authoritative")) != 1 {
				t.Error("silence not counted as drops{not_authoritative}")
			}
			if tc.after != nil {
				tc.after(t, ts)
			}
			checkConsistent(t, ts)
		})
	}
}

// TestRenewAfterRestart: the lease file is the record a renewal needs.
func TestRenewAfterRestart(t *testing.T) {
	cfg := testConfig(t)
	ts := newTestServer(t, cfg)
	a := ts.dora("52:54:00:1a:00:01", dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{0xff, 1, 2})))
	ts.Close()
	ts2 := newTestServer(t, cfg)
	ts2.clock = ts.clock.Add(30 * time.Minute)
	r, _ := ts2.exchange(renewing("52:54:00:1a:00:01", a.YourIPAddr, dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{0xff, 1, 2}))))
	if r == nil || r.MessageType() != dhcpv4.MessageTypeAck || !r.YourIPAddr.Equal(a.YourIPAddr) {
		t.Fatalf("renewal after restart: %v", r)
	}
	// The same MAC under another client id is another client.
	if r, _ := ts2.exchange(renewing("52:54:00:1a:00:01", a.YourIPAddr)); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("renewal by another client id: %v", r)
	}
}

// TestRequestFloodCannotTakePool: REQUESTs from random MACs in every state
// but after a DISCOVER, for every address of the range, bind nothing and
// hold nothing; a real client still gets a lease.
func TestRequestFloodCannotTakePool(t *testing.T) {
	ts := smallPool(t, 50)
	for range 20 {
		for ip := 100; ip <= 113; ip++ {
			a := net.IPv4(10, 0, 0, byte(ip))
			for _, m := range []*dhcpv4.DHCPv4{selecting(randomMAC(), a), renewing(randomMAC(), a),
				renewing(randomMAC(), a, dhcpv4.WithBroadcast(true)),
				newRequest(randomMAC(), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(a)))} {
				if r, _ := ts.exchange(m); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
					t.Fatalf("%v: %v", m.Summary(), r)
				}
			}
		}
	}
	if l := ts.Leases(); len(l) != 0 {
		t.Fatalf("flood bound %d leases", len(l))
	}
	if held := offersHeldGauge(t, ts); held != 0 {
		t.Fatalf("flood holds %v offers", held)
	}
	// DISCOVERs, then REQUESTs for what was offered to someone else: the
	// cap holds, nothing binds.
	var offers []*dhcpv4.DHCPv4
	for range 30 {
		if o, _ := ts.exchange(discover(randomMAC())); o != nil {
			offers = append(offers, o)
		}
	}
	for _, o := range offers {
		if r, _ := ts.exchange(selecting(randomMAC(), o.YourIPAddr)); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
			t.Fatalf("request for another client's offer: %v", r)
		}
	}
	if held := offersHeldGauge(t, ts); held != 7 || len(ts.Leases()) != 0 {
		t.Fatalf("held %v (cap 7), leases %d", held, len(ts.Leases()))
	}
	ts.dora(randomMAC())
}

// TestRequestFloodFacesGlobalLimit: a REQUEST from a client we never
// offered to is not exempt from the global bucket.
func TestRequestFloodFacesGlobalLimit(t *testing.T) {
	ts := newTestServer(t, limitedConfig(t, RateLimit{PerClient: RateOff, Global: 1, GlobalBurst: 3}))
	ts.safety.limit.rnd = func() float64 { return 0 }
	naks := 0
	for i := range 10 {
		r, _ := ts.exchange(selecting(randomMAC(), net.IPv4(10, 0, 0, byte(100+i))))
		if r != nil {
			naks++
		}
	}
	if naks != 3 || testutil.ToFloat64(ts.m.drops.WithLabelValues("global_rate_limited")) != 7 {
		t.Fatalf("%d NAKs, global drops %v", naks, testutil.ToFloat64(ts.m.drops.WithLabelValues("global_rate_limited")))
	}
}

// TestEveryReplyRateLimited: INFORM, and in proxy mode the PXE port's
// REQUEST and INFORM, face the same limits as DISCOVER: each reply is a
// packet an attacker can make the server send (to a forged ciaddr or
// source address, too).
func TestEveryReplyRateLimited(t *testing.T) {
	inform := func(hw string) *dhcpv4.DHCPv4 {
		m, _ := dhcpv4.NewInform(mac(hw), net.IPv4(10, 0, 0, 7))
		return m
	}
	pxeInform := func(hw string) *dhcpv4.DHCPv4 {
		return pxeRequest(hw, dhcpv4.WithOption(vcBIOS), arch(0), dhcpv4.WithMessageType(dhcpv4.MessageTypeInform))
	}
	pxeReq := func(hw string) *dhcpv4.DHCPv4 { return pxeRequest(hw, dhcpv4.WithOption(vcBIOS), arch(0)) }
	tests := map[string]struct {
		proxy bool
		onPXE bool
		mk    func(hw string) *dhcpv4.DHCPv4
	}{
		"inform":             {mk: inform},
		"proxy inform on 67": {proxy: true, mk: pxeInform}, // dropped as unexpected, but counted first
		"pxe port inform":    {proxy: true, onPXE: true, mk: pxeInform},
		"pxe port request":   {proxy: true, onPXE: true, mk: pxeReq},
	}
	for name, tc := range tests {
		for _, global := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/global=%v", name, global), func(t *testing.T) {
				cfg := testConfig(t)
				if tc.proxy {
					cfg = proxyConfig()
				}
				cfg.RateLimit = RateLimit{PerClient: 1, PerClientBurst: 3, Global: RateOff}
				reason := "rate_limited"
				if global {
					cfg.RateLimit = RateLimit{PerClient: RateOff, Global: 1, GlobalBurst: 3}
					reason = "global_rate_limited"
				}
				ts := newTestServer(t, cfg)
				ts.safety.limit.rnd = func() float64 { return 0 }
				replies := 0
				for range 10 {
					hw := "52:54:00:1b:00:01"
					if global {
						hw = randomMAC()
					}
					if r, _ := ts.exchangeOn(tc.onPXE, client68, tc.mk(hw)); r != nil {
						replies++
					}
				}
				wantReplies := 3
				if tc.proxy && !tc.onPXE {
					wantReplies = 0
				}
				if replies != wantReplies || testutil.ToFloat64(ts.m.drops.WithLabelValues(reason)) != 7 {
					t.Fatalf("%d replies, drops{%s} = %v; want %d, 7", replies, reason,
						testutil.ToFloat64(ts.m.drops.WithLabelValues(reason)), wantReplies)
				}
			})
		}
	}
}

// TestDeclineNeedsALease: DECLINE quarantines only the client's own lease
// (a client declines after the ACK, RFC 2131 §4.4.1); declining offers
// would let a DISCOVER+DECLINE flood take the range past the offer cap.
func TestDeclineNeedsALease(t *testing.T) {
	ts := smallPool(t, 50)
	decline := func(hw string, ip net.IP) *dhcpv4.DHCPv4 {
		m, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac(hw)), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))))
		return m
	}
	for range 50 {
		hw := randomMAC()
		if o, _ := ts.exchange(discover(hw)); o != nil {
			ts.exchange(decline(hw, o.YourIPAddr))
		}
	}
	if l := ts.Leases(); len(l) != 0 {
		t.Fatalf("declined offers quarantined %d addresses", len(l))
	}
	if v := testutil.ToFloat64(ts.m.drops.WithLabelValues("unknown_lease")); v != 50 {
		t.Errorf("drops{unknown_lease} = %v", v)
	}
	// A bound client's DECLINE quarantines its address.
	a := ts.dora("52:54:00:1d:00:01")
	ts.exchange(decline("52:54:00:1d:00:01", a.YourIPAddr))
	if l := ts.Leases(); len(l) != 1 || !l[0].Declined || l[0].IP != ipOf(a.YourIPAddr) {
		t.Fatalf("leases after a real DECLINE: %+v", l)
	}
}
