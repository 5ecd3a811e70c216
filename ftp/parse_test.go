package ftp

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePORTAndEPRT(t *testing.T) {
	tests := map[string]struct {
		verb, arg, want string
		ok              bool
	}{
		"port":       {"PORT", "127,0,0,1,4,1", "127.0.0.1:1025", true},
		"port short": {"PORT", "127,0,0,1,4", "", false},
		"port big":   {"PORT", "127,0,0,1,256,1", "", false},
		"eprt v4":    {"EPRT", "|1|10.0.0.1|2000|", "10.0.0.1:2000", true},
		"eprt v6":    {"EPRT", "|2|::1|2000|", "[::1]:2000", true},
		"eprt v6 ll": {"EPRT", "|2|fe80::1|2000|", "[fe80::1]:2000", true},
		"eprt zone":  {"EPRT", "|2|fe80::1%eth0|2000|", "[fe80::1]:2000", true},
		"eprt v4 zn": {"EPRT", "|1|10.0.0.1%eth0|2000|", "", false},
		"eprt v6 br": {"EPRT", "|2|[::1]|2000|", "", false},
		"eprt delim": {"EPRT", "!1!10.0.0.1!2000!", "10.0.0.1:2000", true},
		"eprt fam":   {"EPRT", "|2|10.0.0.1|2000|", "", false},
		"eprt port0": {"EPRT", "|1|10.0.0.1|0|", "", false},
		"eprt junk":  {"EPRT", "|1|10.0.0.1|20|x", "", false},
	}
	for name, tc := range tests {
		parse := parsePORT
		if tc.verb == "EPRT" {
			parse = parseEPRT
		}
		got, err := parse(tc.arg)
		if (err == nil) != tc.ok || (tc.ok && got.String() != tc.want) {
			t.Errorf("%s: %s %q = %v, %v", name, tc.verb, tc.arg, got, err)
		}
	}
}

// FuzzControlLine drives the line checks, command parser and argument
// parsers with arbitrary bytes from the network.
func FuzzControlLine(f *testing.F) {
	for _, s := range []string{"USER anonymous\r\n", "PORT 127,0,0,1,4,1\r\n", "EPRT |1|1.2.3.4|5|\r\n", "EPRT |2|fe80::1%eth0|5000|\r\n", "EPSV ALL\r\n",
		"\xff\xf4\xff\xf2ABOR\r\n", "NOOP\x00\r\n", "LIST -laR\r\n", "A\rB\n", strings.Repeat("x", 5000) + "\n",
		"227 Entering Passive Mode (127,0,0,1,4,1)", "229 Extended (|||4000|)"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		line, err := checkLine(append(b, '\n'))
		if err != nil {
			if !errors.Is(err, errLineTooLong) && !errors.Is(err, errBadLine) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(line) > maxLine || strings.ContainsAny(line, "\x00\r\n") {
			t.Fatalf("checkLine let through %q", line)
		}
		verb, arg, ok := parseCommand(line)
		if ok {
			if len(verb) < 3 || len(verb) > 4 || strings.ToUpper(verb) != verb {
				t.Fatalf("bad verb %q", verb)
			}
			if ap, err := parsePORT(arg); err == nil && !ap.Addr().Is4() {
				t.Fatalf("PORT gave non-IPv4 %v", ap)
			}
			if ap, err := parseEPRT(arg); err == nil && (!strings.Contains(arg, string(arg[0])) || ap.Addr().Zone() != "") {
				t.Fatalf("EPRT accepted %q as %v", arg, ap)
			}
			recursiveFlag(arg)
		}
		replyPort(227, line)
		replyPort(229, line)
	})
}
