package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"bytes":  humanBytes,
		"bytesf": func(f float64) string { return humanBytes(int64(f)) },
		"ago":    func(t time.Time) string { return ago(c.cfg.Now(), t) },
		"when":   when,
		"dur":    humanDuration,
		"secs":   func(s float64) string { return humanDuration(time.Duration(s * float64(time.Second))) },
		"join":   strings.Join,
		"upper":  strings.ToUpper,
		"count":  humanCount,
		"plus1":  func(i int) int { return i + 1 },
	}
}

// humanBytes is n in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	if n < 0 {
		return "?"
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f, unit = f/1024, u
		if f < 1024 {
			break
		}
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, unit)
	}
	return fmt.Sprintf("%.0f %s", f, unit)
}

// humanCount writes a counter: whole numbers with thin grouping.
func humanCount(v float64) string {
	if v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return fmt.Sprintf("%.3g", v)
	}
	s := fmt.Sprintf("%d", int64(math.Abs(v)))
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(r)
	}
	return b.String()
}

// humanDuration rounds d for people: 850ms, 4.2s, 3m10s, 2h5m.
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// ago says how long before now t was ("3m ago"), or how long after ("in
// 54m"); the zero time is "never".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + humanDuration(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return humanDuration(d) + " ago"
}

// when is t in the server's zone, to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}
