package scripts

import "testing"

// FuzzValidHostname: whatever a client sends as its host name, what is
// accepted can only be letters, digits, hyphens and dots, so it cannot
// break a line or a template of the script it is put in.
func FuzzValidHostname(f *testing.F) {
	for _, s := range []string{"node1", "a.b.c", "x\nchain http://evil", "-x", "a..b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidHostname(s) {
			return
		}
		if len(s) > 254 {
			t.Fatalf("accepted %d bytes", len(s))
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				t.Fatalf("accepted %q with byte %#x", s, c)
			}
		}
	})
}
