package logsample

import (
	"testing"
	"time"
)

func TestSampler(t *testing.T) {
	s := New(time.Second)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{3 * time.Second, true, 1},
	}
	for i, st := range steps {
		ok, n := s.Allow(t0.Add(st.at))
		if ok != st.ok || n != st.suppressed {
			t.Fatalf("step %d: Allow = %v, %d; want %v, %d", i, ok, n, st.ok, st.suppressed)
		}
	}
}
