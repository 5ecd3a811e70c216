package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// newLogger builds the process logger; every service gets a child of it.
func newLogger(level, format string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level: %w", err)
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// sampler lets one log line through per interval and counts the rest, so
// that a flood cannot fill the log.
type sampler struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

func newSampler(every time.Duration) *sampler { return &sampler{every: every} }

// allow reports whether to log now, and how many lines were suppressed
// since the last one that was.
func (s *sampler) allow(now time.Time) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.last) < s.every {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	return true, n
}
