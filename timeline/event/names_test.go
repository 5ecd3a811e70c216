package event

import (
	"encoding"
	"testing"
)

// TestNamesRoundTrip: every name, and a value without one, reads back as
// the value that wrote it; unknown text is an error.
func TestNamesRoundTrip(t *testing.T) {
	type textValue interface {
		encoding.TextMarshaler
		encoding.TextUnmarshaler
	}
	tests := map[string]struct {
		values []uint8
		newV   func(uint8) textValue
		want   []string
	}{
		"service": {[]uint8{0, 1, 2, 3, 4, 5, 6, 9}, func(v uint8) textValue { s := Service(v); return &s },
			[]string{"", "dhcp", "tftp", "http", "ftp", "script", "dhcpv6", "service9"}},
		"kind": {[]uint8{1, 2, 3, 4, 5, 6, 7, 8}, func(v uint8) textValue { k := Kind(v); return &k },
			[]string{"dhcp_in", "dhcp_out", "transfer", "upload", "login", "render", "refusal", "boot_loop"}},
		"result": {[]uint8{0, 1, 2}, func(v uint8) textValue { r := Result(v); return &r },
			[]string{"", "ok", "error"}},
		"msgtype": {[]uint8{1, 2, 3, 4, 5, 6, 7, 8, 129, 130, 132, 133, 134, 135, 139, 141, 13, 131}, func(v uint8) textValue { m := MsgType(v); return &m },
			[]string{"discover", "offer", "request", "decline", "ack", "nak", "release", "inform",
				"solicit", "advertise", "confirm", "renew", "rebind", "reply", "information-request", "relay-repl", "type13", "type131"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for i, v := range tc.values {
				b, err := tc.newV(v).MarshalText()
				if err != nil || string(b) != tc.want[i] {
					t.Errorf("%d: MarshalText = %q, %v; want %q", v, b, err, tc.want[i])
				}
				back := tc.newV(0)
				if err := back.UnmarshalText(b); err != nil {
					t.Errorf("%d: UnmarshalText(%q): %v", v, b, err)
				}
				if again, _ := back.MarshalText(); string(again) != string(b) {
					t.Errorf("%d: round trip gave %q", v, again)
				}
			}
			for _, bad := range []string{"nope", tc.want[len(tc.want)-1] + "x", "type1", "type129", "service300"} {
				if err := tc.newV(0).UnmarshalText([]byte(bad)); err == nil {
					t.Errorf("UnmarshalText(%q) accepted", bad)
				}
			}
		})
	}
}

// TestSinks: the adapters do what they say.
func TestSinks(t *testing.T) {
	var got []Event
	var s Sink = SinkFunc(func(e Event) { got = append(got, e) })
	s.Record(Event{File: "a"})
	Discard{}.Record(Event{File: "b"})
	if len(got) != 1 || got[0].File != "a" {
		t.Fatalf("got %+v", got)
	}
}

// TestMsgTypeV6: DHCPv6 codes map to the shared names where DHCPv4 has
// the same message, to their own names otherwise.
func TestMsgTypeV6(t *testing.T) {
	for code, want := range map[uint8]string{1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew", 6: "rebind",
		7: "reply", 8: "release", 9: "decline", 10: "reconfigure", 11: "information-request", 12: "relay-forw", 13: "relay-repl", 99: "type227"} {
		if got := MsgTypeV6(code).String(); got != want {
			t.Errorf("MsgTypeV6(%d) = %q, want %q", code, got, want)
		}
	}
}
