package dhcp

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRateYAML(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Rate
		err  bool
	}{
		"number":     {in: "5", want: 5},
		"per second": {in: "2.5/s", want: 2.5},
		"per minute": {in: "120/m", want: 2},
		"off":        {in: "off", want: RateOff},
		"zero":       {in: "0", err: true},
		"negative":   {in: "-3", err: true},
		"per hour":   {in: "5/h", err: true},
		"text":       {in: "fast", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var v struct {
				R Rate `yaml:"r"`
			}
			err := yaml.UnmarshalWithOptions([]byte("r: "+tc.in), &v, yaml.Strict())
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if err == nil && v.R != tc.want {
				t.Fatalf("got %v, want %v", v.R, tc.want)
			}
		})
	}
}

func TestSafetyConfigKeys(t *testing.T) {
	tests := map[string]struct {
		mod func(*Config)
		key string
	}{
		"defaults ok":      {mod: func(*Config) {}},
		"burst negative":   {mod: func(c *Config) { c.RateLimit.PerClientBurst = -1 }, key: "rate_limit.per_client_burst"},
		"clients negative": {mod: func(c *Config) { c.RateLimit.Clients = -5 }, key: "rate_limit.clients"},
		"bad rate":         {mod: func(c *Config) { c.RateLimit.Global = -7 }, key: "rate_limit.global"},
		"percent over 100": {mod: func(c *Config) { c.OfferHoldPercent = 101 }, key: "offer_hold_percent"},
		"probe too fast":   {mod: func(c *Config) { c.RogueDetection.ProbeInterval = time.Millisecond }, key: "rogue_detection.probe_interval"},
		"probe without ear": {mod: func(c *Config) {
			off := false
			c.RogueDetection.Listen = &off
			c.RogueDetection.ProbeInterval = time.Minute
		}, key: "rogue_detection.probe_interval"},
		"known server not ip": {mod: func(c *Config) { c.RogueDetection.KnownServers = []string{"x"} }, key: "rogue_detection.known_servers[0]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.mod(&cfg)
			err := cfg.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				d := cfg.WithDefaults()
				if d.RateLimit.PerClient != 2 || d.RateLimit.Global != 1000 || d.OfferHoldPercent != 50 || !*d.RogueDetection.Listen || d.RogueDetection.Window != 10*time.Minute {
					t.Fatalf("defaults: %+v %+v", d.RateLimit, d.RogueDetection)
				}
				return
			}
			checkKeyError(t, name, err, tc.key, "")
		})
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var b bucket
	got := ""
	for _, step := range []time.Duration{0, 0, 0, 0, 500 * time.Millisecond, 500 * time.Millisecond, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second} {
		if b.take(t0.Add(step), 2, 3) {
			got += "y"
		} else {
			got += "n"
		}
	}
	// burst 3, then 1 token after 0.5s at 2/s, none left; after 10s the
	// bucket is full again (3), not 20.
	if got != "yyynynyyyn" {
		t.Fatalf("got %s", got)
	}
	var off bucket
	for range 100 {
		if !off.take(t0, RateOff, 1) {
			t.Fatal("off limited")
		}
	}
}

func limitedConfig(t testing.TB, rl RateLimit) Config {
	cfg := testConfig(t)
	cfg.RateLimit = rl
	return cfg
}

func TestPerClientLimit(t *testing.T) {
	ts := newTestServer(t, limitedConfig(t, RateLimit{PerClient: 1, PerClientBurst: 3, Global: RateOff}))
	offers := 0
	for range 5 {
		if r, _ := ts.exchange(discover("52:54:00:aa:10:01")); r != nil {
			offers++
		}
	}
	if offers != 3 || testutil.ToFloat64(ts.m.drops.WithLabelValues("rate_limited")) != 2 {
		t.Fatalf("offers %d, rate_limited %v", offers, testutil.ToFloat64(ts.m.drops.WithLabelValues("rate_limited")))
	}
	// Another client is not affected, and the first recovers with time.
	ts.dora("52:54:00:aa:10:02")
	ts.clock = ts.clock.Add(time.Second)
	if r, _ := ts.exchange(discover("52:54:00:aa:10:01")); r == nil {
		t.Fatal("no offer after the bucket refilled")
	}
}

func TestGlobalLimitFinishesStartedExchanges(t *testing.T) {
	ts := newTestServer(t, limitedConfig(t, RateLimit{PerClient: RateOff, Global: 1, GlobalBurst: 3}))
	ts.safety.limit.rnd = func() float64 { return 0 } // the bucket alone decides
	var offers []*dhcpv4.DHCPv4
	for i := range 5 {
		if r, _ := ts.exchange(discover(fmt.Sprintf("52:54:00:aa:20:%02x", i))); r != nil {
			offers = append(offers, r)
		}
	}
	if len(offers) != 3 || testutil.ToFloat64(ts.m.drops.WithLabelValues("global_rate_limited")) != 2 {
		t.Fatalf("%d offers, global drops %v", len(offers), testutil.ToFloat64(ts.m.drops.WithLabelValues("global_rate_limited")))
	}
	// The bucket is empty, but REQUESTs answering our OFFERs pass.
	var acks []*dhcpv4.DHCPv4
	for _, o := range offers {
		ack, _ := ts.exchange(requestFor(o))
		if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
			t.Fatalf("request after our offer: %v", ack)
		}
		acks = append(acks, ack)
	}
	// So does a renewal of a lease we hold (ciaddr set, no server id)...
	renew, _ := dhcpv4.NewRequestFromOffer(offers[0], dhcpv4.WithClientIP(acks[0].YourIPAddr),
		dhcpv4.WithoutOption(dhcpv4.OptionServerIdentifier), dhcpv4.WithoutOption(dhcpv4.OptionRequestedIPAddress))
	if r, _ := ts.exchange(renew); r == nil || r.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("renewal: %v", r)
	}
	// ...but not an unsolicited REQUEST from a client we never offered to.
	stranger := requestFor(offers[1])
	stranger.ClientHWAddr = mac("52:54:00:aa:20:ff")
	if r, _ := ts.exchange(stranger); r != nil {
		t.Fatalf("unsolicited request answered past the global limit: %v", r)
	}
}

func TestLimiterTableBounded(t *testing.T) {
	l := newLimiter(RateLimit{PerClient: 1, PerClientBurst: 1, Global: RateOff, GlobalBurst: 1, Clients: 50})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	never := func(time.Time) bool { return false }
	for i := range 10000 {
		l.verdict(ClientKey(fmt.Sprint("h", i)), never, now)
	}
	if n := l.size(); n != 50 {
		t.Fatalf("table holds %d clients, want 50", n)
	}
	// The most recent client is remembered (and limited), the oldest not.
	if v := l.verdict("h9999", never, now); v != "rate_limited" {
		t.Fatalf("recent client: %q", v)
	}
	if v := l.verdict("h0", never, now); v != "" {
		t.Fatalf("forgotten client: %q", v)
	}
}

func TestKnownClientsOnly(t *testing.T) {
	tests := map[string]struct {
		req  *dhcpv4.DHCPv4
		want string // offered address, "" for none
	}{
		"reserved mac":       {req: discover("52:54:00:00:00:50"), want: "10.0.0.50"},
		"reserved client id": {req: discover("52:54:00:bb:00:01", dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{0xff, 0, 0, 0, 1}))), want: "10.0.0.51"},
		"unknown":            {req: discover("52:54:00:bb:00:02")},
		// A client id without a reservation falls back to the MAC's.
		"reserved mac, other client id": {req: discover("52:54:00:00:00:50", dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{1, 2, 3}))), want: "10.0.0.50"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.KnownClientsOnly = true
			ts := newTestServer(t, cfg)
			r, _ := ts.exchange(tc.req)
			got := ""
			if r != nil {
				got = r.YourIPAddr.String()
			}
			if got != tc.want {
				t.Fatalf("offered %q, want %q", got, tc.want)
			}
			drops := testutil.ToFloat64(ts.m.drops.WithLabelValues("unknown_client"))
			if (tc.want == "") != (drops == 1) {
				t.Fatalf("unknown_client drops = %v", drops)
			}
		})
	}
}

// TestGlobalLimitFairUnderFlood: a flood at twice the global rate, phase-
// locked so a packet arrives right after every refill, would take every
// token of a plain bucket; a real client retrying once a second must still
// get through within a few tries, and the flood is held near the limit.
func TestGlobalLimitFairUnderFlood(t *testing.T) {
	l := newLimiter(RateLimit{PerClient: RateOff, Global: 100, GlobalBurst: 10, Clients: 1000})
	rng := rand.New(rand.NewPCG(1, 2))
	l.rnd = rng.Float64
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	never := func(time.Time) bool { return false }
	client := keyFor(nil, mac("52:54:00:aa:30:01"))
	admittedFlood, tries, got := 0, 0, false
	for i := range 2000 { // 10 s at 200/s
		now := t0.Add(time.Duration(i) * 5 * time.Millisecond)
		if l.verdict(keyFor(nil, mac(fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256))), never, now) == "" {
			admittedFlood++
		}
		if i >= 400 && i%200 == 1 && !got { // the real client, from 2 s on once a second, just after a flood packet
			tries++
			got = l.verdict(client, never, now.Add(time.Microsecond)) == ""
		}
	}
	if !got || tries > 6 {
		t.Errorf("real client: admitted %v after %d tries", got, tries)
	}
	if admittedFlood > 1100 { // 100/s for 10 s, plus the burst
		t.Errorf("flood admitted %d, want about 1000", admittedFlood)
	}
}
