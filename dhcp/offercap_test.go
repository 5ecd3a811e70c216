package dhcp

import (
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// smallPool is testConfig with a 14-address range and no rate limits, so
// that only the held-offer cap stands between a flood and the pool.
func smallPool(t testing.TB, percent int) *testServer {
	cfg := testConfig(t)
	cfg.Pools[0].Range = "10.0.0.100-10.0.0.113"
	cfg.RateLimit = RateLimit{PerClient: RateOff, Global: RateOff}
	cfg.OfferHoldPercent = percent
	return newTestServer(t, cfg)
}

func randomMAC() string {
	m := make(net.HardwareAddr, 6)
	rand.Read(m)
	m[0] = m[0]&^1 | 2
	return m.String()
}

// flood sends n DISCOVERs from random MACs, as yersinia's DHCP starvation
// attack does, and never REQUESTs.
func (ts *testServer) flood(n int) {
	for range n {
		ts.exchange(discover(randomMAC()))
	}
}

func TestDiscoverFloodLeavesAddressesForRealClients(t *testing.T) {
	tests := map[string]struct {
		percent     int
		wantClients int // real clients that get a lease during the flood
		wantHeld    float64
	}{
		"cap 50%":           {percent: 50, wantClients: 7, wantHeld: 7},
		"cap 20%":           {percent: 20, wantClients: 12, wantHeld: 2},
		"every offer holds": {percent: 100, wantClients: 0, wantHeld: 14},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts := smallPool(t, tc.percent)
			got := 0
			for range 20 {
				ts.flood(100)
				ts.clock = ts.clock.Add(100 * time.Millisecond)
				offer, _ := ts.exchange(discover(randomMAC()))
				if offer == nil {
					continue
				}
				ts.flood(20) // between the real client's OFFER and REQUEST
				if ack, _ := ts.exchange(requestFor(offer)); ack != nil && ack.MessageType() == dhcpv4.MessageTypeAck {
					got++
				}
			}
			held := offersHeldGauge(t, ts)
			if got != tc.wantClients || held != tc.wantHeld {
				t.Fatalf("%d real clients leased, %v addresses held; want %d, %v", got, held, tc.wantClients, tc.wantHeld)
			}
		})
	}
}

func offersHeldGauge(t *testing.T, ts *testServer) float64 {
	t.Helper()
	return gathered(t, ts.reg, "bootsrv_dhcp_offers_held", "10.0.0.0/24")
}

func TestHeldOffersAreCountedOnce(t *testing.T) {
	ts := smallPool(t, 50)
	for range 5 {
		ts.exchange(discover("52:54:00:cc:00:01")) // the same client again
	}
	if held := offersHeldGauge(t, ts); held != 1 {
		t.Fatalf("held %v", held)
	}
	ts.dora("52:54:00:cc:00:02") // bound: its offer is released
	if held := offersHeldGauge(t, ts); held != 1 {
		t.Fatalf("held after a bind %v", held)
	}
	// Expired holds are swept when the cap is reached.
	ts.flood(20)
	ts.clock = ts.clock.Add(time.Minute)
	ts.flood(3)
	if held := offersHeldGauge(t, ts); held != 3 {
		t.Fatalf("held after expiry %v", held)
	}
}
