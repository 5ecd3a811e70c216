package timeline

import (
	"errors"
	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// TestConfigValidate: each bad value is named by its key; zero values are
// the defaults.
func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		cfg  Config
		key  string // "" : valid
		want string
	}{
		"zero":                   {cfg: Config{}},
		"explicit":               {cfg: Config{Machines: 5, EventsPerMachine: 1, UnresolvedIPs: 1, LoopFetches: 2, LoopWindow: time.Second}},
		"loop detection off":     {cfg: Config{LoopFetches: -1}},
		"negative machines":      {cfg: Config{Machines: -1}, key: "machines", want: "want 1 to"},
		"too many machines":      {cfg: Config{Machines: 2_000_000}, key: "machines"},
		"too many events":        {cfg: Config{EventsPerMachine: 5000}, key: "events_per_machine"},
		"negative events":        {cfg: Config{EventsPerMachine: -3}, key: "events_per_machine"},
		"negative unresolved":    {cfg: Config{UnresolvedIPs: -1}, key: "unresolved_ips"},
		"negative attach window": {cfg: Config{AttachWindow: -time.Second}, key: "attach_window"},
		"one fetch":              {cfg: Config{LoopFetches: 1}, key: "loop_fetches", want: "or -1 for off"},
		"negative fetches":       {cfg: Config{LoopFetches: -2}, key: "loop_fetches"},
		"negative window":        {cfg: Config{LoopWindow: -time.Minute}, key: "loop_window", want: "must not be negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(tc.cfg, zerolog.Nop(), prometheus.NewRegistry()); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var ke *cfgerr.Error
			if !errors.As(err, &ke) || ke.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error for key %s containing %q", err, tc.key, tc.want)
			}
			if _, err := New(tc.cfg, zerolog.Nop(), prometheus.NewRegistry()); err == nil {
				t.Error("New accepted what Validate refuses")
			}
		})
	}
	d := Config{}.WithDefaults()
	if d.Machines != 10000 || d.EventsPerMachine != 64 || d.UnresolvedIPs != 1024 || d.AttachWindow != 10*time.Minute ||
		d.LoopFetches != 3 || d.LoopWindow != 10*time.Minute || d.Now == nil || d.Resolve != nil {
		t.Errorf("defaults = %+v", d)
	}
}

// TestNewRegistersOnce: a second recorder on the same registry is an
// error, not a panic.
func TestNewRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, zerolog.Nop(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, zerolog.Nop(), reg); err == nil {
		t.Error("second New on one registry succeeded")
	}
}
