package tftp

import (
	"sync"
	"time"
)

// logSampler lets one log line an interval through and counts the rest,
// so that a flood of one kind of event does not become a flood of log
// lines; the metrics still count every event.
type logSampler struct {
	every time.Duration

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// allow reports whether to log now, and how many events were not logged
// since the last line.
func (l *logSampler) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	l.next = now.Add(l.every)
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
