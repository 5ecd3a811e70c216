package netboot

import (
	"net/netip"
	"strings"
	"testing"
)

func TestLookupARP(t *testing.T) {
	table := `IP address       HW type     Flags       HW address            Mask     Device
10.0.0.2         0x1         0x2         52:54:00:12:34:56     *        eth0
10.0.0.3         0x1         0x0         00:00:00:00:00:00     *        eth0
10.0.0.4         0x1         0x6         52:54:00:12:34:57     *        eth0
10.0.0.22        0x1         0x2         52:54:00:12:34:58     *        eth0
`
	tests := map[string]struct {
		ip   string
		want string
	}{
		"complete":          {"10.0.0.2", "52:54:00:12:34:56"},
		"incomplete":        {"10.0.0.3", ""},
		"permanent":         {"10.0.0.4", "52:54:00:12:34:57"},
		"no prefix match":   {"10.0.0.20", ""},
		"mapped v4":         {"::ffff:10.0.0.22", "52:54:00:12:34:58"},
		"v6 has no entries": {"fd00::2", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			mac, ok := lookupARP(strings.NewReader(table), netip.MustParseAddr(tc.ip))
			if ok != (tc.want != "") || (ok && mac.String() != tc.want) {
				t.Errorf("got %v %v, want %q", mac, ok, tc.want)
			}
		})
	}
}
