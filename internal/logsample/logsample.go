// Package logsample keeps floods out of the log: a Sampler lets one line
// through per interval and counts the ones it held back, so the line that
// does go out can say how many were suppressed.
package logsample

import (
	"sync"
	"time"
)

// Sampler lets one event through per interval. It is safe for concurrent
// use; the zero value lets everything through.
type Sampler struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

// New lets one event through per every.
func New(every time.Duration) *Sampler { return &Sampler{every: every} }

// Allow reports whether to log at now, and how many events were held back
// since the last one that was let through.
func (s *Sampler) Allow(now time.Time) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) < s.every {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	return true, n
}
