package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := map[string]struct {
		in   []float64
		want float64
	}{
		"empty": {nil, 0},
		"one":   {[]float64{3}, 3},
		"odd":   {[]float64{5, 1, 3}, 3},
		"even":  {[]float64{4, 1, 3, 2}, 2.5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestFinishRatio(t *testing.T) {
	tests := map[string]struct {
		higher   bool
		values   map[string][]float64
		failures map[string]int
		wantPeer string
		want     float64
	}{
		"time: fastest peer": {
			values:   map[string][]float64{bootsrv: {2, 2, 2}, hpa: {4, 4, 4}, dnsmasq: {1, 1, 1}},
			wantPeer: dnsmasq, want: 2,
		},
		"rate: highest peer": {
			higher:   true,
			values:   map[string][]float64{bootsrv: {9000}, keaDHCP4: {6000}},
			wantPeer: keaDHCP4, want: 1.5,
		},
		"a peer with failures is not the best": {
			values:   map[string][]float64{bootsrv: {2}, hpa: {1}, dnsmasq: {4}},
			failures: map[string]int{hpa: 1},
			wantPeer: dnsmasq, want: 0.5,
		},
		"no usable peer": {
			values:   map[string][]float64{bootsrv: {2}, hpa: {1}},
			failures: map[string]int{hpa: 2},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &rowResult{HigherIsBetter: tc.higher}
			for _, n := range []string{bootsrv, hpa, dnsmasq, keaDHCP4} {
				if v, ok := tc.values[n]; ok {
					r.Servers = append(r.Servers, &serverResult{Name: n, Values: v, Failures: tc.failures[n]})
				}
			}
			r.finish()
			if r.BestPeer != tc.wantPeer || r.Ratio != tc.want {
				t.Errorf("best peer %q ratio %v, want %q %v", r.BestPeer, r.Ratio, tc.wantPeer, tc.want)
			}
		})
	}
}

// perfdhcp 2.2's summary, trimmed.
const perfdhcpOut = `***Rate statistics***
Rate: 1999.93 4-way exchanges/second, expected rate: 2000

***Statistics for: DISCOVER-OFFER***
sent packets: 9999
received packets: 9990
drops: 9
drops ratio: 0.09 %
orphans: 0

***Statistics for: REQUEST-ACK***
sent packets: 9990
received packets: 9900
drops: 90
drops ratio: 0.901 %
orphans: 0
`

func TestParsePerfdhcp(t *testing.T) {
	st, err := parsePerfdhcp(perfdhcpOut)
	if err != nil {
		t.Fatal(err)
	}
	want := perfStats{sent: [2]int{9999, 9990}, recv: [2]int{9990, 9900}, drops: [2]float64{0.09, 0.901}}
	if st != want {
		t.Fatalf("got %+v, want %+v", st, want)
	}
	tests := map[string]struct {
		rate, secs int
		want       bool
	}{
		"kept up, under 1%":       {2000, 5, true},
		"perfdhcp sent under 95%": {4000, 5, false},
		"REQUEST-ACK at 0.9%":     {2000, 5, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := st.ok(tc.rate, tc.secs); got != tc.want {
				t.Errorf("ok(%d, %d) = %v, want %v", tc.rate, tc.secs, got, tc.want)
			}
		})
	}
	st.drops[1] = 1.0
	if st.ok(2000, 5) {
		t.Error("1.0% REQUEST-ACK drops passed")
	}
	if _, err := parsePerfdhcp("Error running perfdhcp: no such interface"); err == nil {
		t.Error("no error for output without statistics")
	}
}

func TestSearch(t *testing.T) {
	tests := map[string]struct {
		limit  int // highest rate the fake server sustains
		bisect int
		want   int
		steps  []int
	}{
		"fails at the bottom":   {limit: 500, bisect: 2, want: 500, steps: []int{1000, 500, 750}},
		"climbs then bisects":   {limit: 7000, bisect: 2, want: 7000, steps: []int{1000, 2000, 4000, 6000, 8000, 7000, 7500}},
		"no bisection (smoke)":  {limit: 7000, bisect: 0, want: 6000, steps: []int{1000, 2000, 4000, 6000, 8000}},
		"passes the whole list": {limit: 1 << 30, bisect: 2, want: 4000, steps: []int{1000, 2000, 4000}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := []int{1000, 2000, 4000, 6000, 8000, 10000}
			if tc.limit > 1<<29 {
				l = l[:3]
			}
			s := newSearch(l, tc.bisect)
			var steps []int
			for r, ok := s.next(); ok; r, ok = s.next() {
				steps = append(steps, r)
				s.record(r, r <= tc.limit)
			}
			if s.pass != tc.want || !equal(steps, tc.steps) {
				t.Errorf("pass %d after %v, want %d after %v", s.pass, steps, tc.want, tc.steps)
			}
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPrintTable(t *testing.T) {
	r := &rowResult{ID: "tftp-x", Title: "TFTP x", Unit: "s", Notes: []string{"loss: nft"}}
	r.Servers = []*serverResult{
		{Name: bootsrv, Values: []float64{1, 1.2, 1.1}, RSSMiB: 12.5},
		{Name: hpa, Values: []float64{2}, RSSMiB: 40, Procs: 51, Note: "no windowsize (lock-step)"},
		{Name: dnsmasq, Values: []float64{3}, Failures: 2},
	}
	r.finish()
	var b bytes.Buffer
	printTable(&b, &results{Reps: 3, Rows: []*rowResult{r}, Machine: "test"})
	out := b.String()
	for _, want := range []string{"1.100", "2.000", "3.000!2", "0.55", "tftpd-hpa", "40.0 (51p)", "loss: nft", "tftpd-hpa: no windowsize"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestSelectRows(t *testing.T) {
	all := plan(&options{rows: map[string]bool{"tftp": true, "ftp": true, "dhcp": true}})
	tests := map[string]struct {
		only string
		want []string
	}{
		"exact id":  {"tftp-storm-500", []string{"tftp-storm-500"}},
		"substring": {"storm-500", []string{"tftp-storm-500", "tftp-storm-500-loss1"}},
		"list":      {"ftp-stor-big, dhcp", []string{"ftp-stor-big", "dhcp-dora-rate", "dhcp-pg-dora-rate", "dhcpv6-sarr-rate"}},
		"v6 only":   {"dhcpv6", []string{"dhcpv6-sarr-rate"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, r := range selectRows(all, strings.Split(tc.only, ",")) {
				got = append(got, r.id)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
