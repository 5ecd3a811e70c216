package cfgerr

import (
	"errors"
	"testing"
)

func TestWithin(t *testing.T) {
	reason := errors.New("must be positive")
	tests := map[string]struct {
		section string
		err     error
		key     string
	}{
		"nested key":     {"tftp", New("retries", reason), "tftp.retries"},
		"indexed key":    {"dhcp", New("pools[0].range", reason), "dhcp.pools[0].range"},
		"index directly": {"scripts", New("[1].template", reason), "scripts[1].template"},
		"plain error":    {"ftp", reason, "ftp"},
		"wrapped":        {"http", errors.Join(New("listen", reason)), "http.listen"},
		"two levels":     {"dhcp", Within("rate_limit", New("global", reason)), "dhcp.rate_limit.global"},
	}
	for name, tc := range tests {
		err := Within(tc.section, tc.err)
		var e *Error
		if !errors.As(err, &e) || e.Key != tc.key {
			t.Errorf("%s: key %q, want %q", name, e.Key, tc.key)
		}
		if !errors.Is(err, reason) {
			t.Errorf("%s: the reason is lost: %v", name, err)
		}
	}
	if Within("x", nil) != nil {
		t.Error("Within(nil) is not nil")
	}
	if got := Errorf("k", "bad %d", 3).Error(); got != "k: bad 3" {
		t.Errorf("Error() = %q", got)
	}
}
