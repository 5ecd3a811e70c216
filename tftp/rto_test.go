package tftp

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestRTOTimer(t *testing.T) {
	ms := time.Millisecond
	tests := map[string]struct {
		steps []func(*rtoTimer)
		want  time.Duration
		full  bool // what the next expired() reports
	}{
		"before any answer: the timeout": {want: 2000 * ms, full: true},
		"first sample: srtt + 4 x srtt/2, floored": {
			steps: []func(*rtoTimer){func(r *rtoTimer) { r.sample(ms) }}, want: 50 * ms},
		"slow link: follows the round trip": {
			steps: []func(*rtoTimer){func(r *rtoTimer) { r.sample(200 * ms) }}, want: 600 * ms},
		"capped at the timeout": {
			steps: []func(*rtoTimer){func(r *rtoTimer) { r.sample(1500 * ms) }}, want: 2000 * ms, full: true},
		"timeouts double up to the cap": {
			steps: []func(*rtoTimer){func(r *rtoTimer) { r.sample(ms) }, func(r *rtoTimer) { r.expired() },
				func(r *rtoTimer) { r.expired() }}, want: 200 * ms},
		"timeout option: the wait until the peer answers": {
			steps: []func(*rtoTimer){func(r *rtoTimer) { r.ceiling(6 * time.Second) }},
			want:  6 * time.Second, full: true},
		"timeout option: adapts below it": {
			steps: []func(*rtoTimer){func(r *rtoTimer) { r.ceiling(6 * time.Second) }, func(r *rtoTimer) { r.sample(ms) }},
			want:  50 * ms},
		"timeout option: never above it": {
			steps: []func(*rtoTimer){func(r *rtoTimer) { r.ceiling(time.Second) }, func(r *rtoTimer) { r.sample(900 * ms) }},
			want:  time.Second, full: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRTOTimer(2*time.Second, 50*ms)
			for _, step := range tc.steps {
				step(&r)
			}
			if r.rto != tc.want {
				t.Errorf("rto %s, want %s", r.rto, tc.want)
			}
			if full := r.expired(); full != tc.full {
				t.Errorf("expired() = %v, want %v", full, tc.full)
			}
		})
	}
}

// TestAdaptiveRetransmit: once the client has answered, a lost block is
// resent after the measured round trip (floored at min_timeout), not after
// the configured timeout, and the short waits do not use up the retries.
func TestAdaptiveRetransmit(t *testing.T) {
	cfg := Config{Timeout: 5 * time.Second, MinTimeout: 20 * time.Millisecond, Retries: 1}
	ts := newTestServer(t, cfg, map[string][]byte{"f": randBytes(512 * 10)})
	r := newRaw(t, ts.addr)
	r.send(r.srv, request(1, "f", "octet"))
	for block := uint16(1); block <= 5; block++ {
		p := r.read(2 * time.Second)
		if opcode(p) != 3 || binary.BigEndian.Uint16(p[2:]) != block {
			t.Fatalf("want DATA %d, got %q", block, p)
		}
		r.send(r.last, ack(block))
	}
	// DATA 6 "is lost": not acknowledged. Three resends at 20, 40, 80ms...
	// come long before the 5s timeout, and with retries: 1 the transfer
	// still goes on, because only full-timeout waits count.
	start := time.Now()
	for i := 0; i < 3; i++ {
		p := r.read(2 * time.Second)
		if opcode(p) != 3 || binary.BigEndian.Uint16(p[2:]) != 6 {
			t.Fatalf("want DATA 6 again, got %q", p)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("three resends took %s; the timer did not adapt", d)
	}
	for block := uint16(6); block <= 11; block++ {
		r.send(r.last, ack(block))
		if block == 11 {
			break
		}
		p := r.read(2 * time.Second)
		for opcode(p) == 3 && binary.BigEndian.Uint16(p[2:]) == 6 { // a resend in flight
			p = r.read(2 * time.Second)
		}
		if opcode(p) != 3 || binary.BigEndian.Uint16(p[2:]) != block+1 {
			t.Fatalf("want DATA %d, got %q", block+1, p)
		}
	}
}
