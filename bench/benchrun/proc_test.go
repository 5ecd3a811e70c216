package main

import (
	"os"
	"testing"
)

func TestParseStatTicks(t *testing.T) {
	tests := map[string]struct {
		line string
		want int64
	}{
		// utime 7, stime 3, cutime 20, cstime 10 (fields 14-17).
		"plain":            {"1234 (in.tftpd) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 20 10 20 0 1 0 5 1000 200", 40},
		"spaces and paren": {"99 (a b) c)) R 1 99 99 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 5 1000 200", 10},
		"truncated":        {"99 (x) R 1 99 99 0", 0},
		"no name":          {"garbage", 0},
		"not a number":     {"1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 x 3 4 20 0 1 0 5 1000 200", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := parseStatTicks(tc.line); got != tc.want {
				t.Errorf("parseStatTicks(%q) = %d, want %d", tc.line, got, tc.want)
			}
		})
	}
}

// TestStatTicksSelf reads this process's own times: they exist and grow
// with work done.
func TestStatTicksSelf(t *testing.T) {
	pid := os.Getpid()
	before := statTicks(pid)
	x := 0
	for i := range 300_000_000 {
		x += i % 7
	}
	after := statTicks(pid)
	if after <= before {
		t.Fatalf("CPU ticks did not grow over a busy loop: %d -> %d (x=%d)", before, after, x)
	}
	if statTicks(1<<30) != 0 {
		t.Error("a pid that does not exist has ticks")
	}
}

func TestParseCPUStat(t *testing.T) {
	got, err := parseCPUStat("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
	if err != nil || got != 2.5 {
		t.Errorf("parseCPUStat = %v, %v; want 2.5", got, err)
	}
	if _, err := parseCPUStat("user_usec 1\n"); err == nil {
		t.Error("cpu.stat without usage_usec accepted")
	}
}
