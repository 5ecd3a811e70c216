package images

import (
	"errors"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tests := map[string]struct {
		in   string
		want string
		err  error
	}{
		"plain":              {in: "pxelinux.0", want: "pxelinux.0"},
		"leading slash":      {in: "/boot/vmlinuz", want: "boot/vmlinuz"},
		"windows separators": {in: `\Boot\x86\wdsnbp.com`, want: "Boot/x86/wdsnbp.com"},
		"dot and doubles":    {in: "a//./b/", want: "a/b"},
		"root":               {in: "/", want: "."},
		"empty":              {in: "", want: "."},
		"parent":             {in: "../etc/passwd", err: ErrInvalidName},
		"inner parent":       {in: "a/../../b", err: ErrInvalidName},
		"backslash parent":   {in: `..\..\etc\passwd`, err: ErrInvalidName},
		"nul":                {in: "a\x00b", err: ErrInvalidName},
		"newline":            {in: "a\nb", err: ErrInvalidName},
		"del":                {in: "a\x7fb", err: ErrInvalidName},
		"bad utf8":           {in: "a\xffb", err: ErrInvalidName},
		"temp file":          {in: "incoming/" + TempPrefix + "up-1", err: ErrInvalidName},
		"too long":           {in: strings.Repeat("a/", MaxNameLen), err: ErrInvalidName},
		"long component":     {in: strings.Repeat("a", 256), err: ErrInvalidName},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Clean(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Clean(%q) = %q, %v; want error %v", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Clean(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	tests := map[string]struct{ dir, name, want string }{
		"root dir":  {".", "/a/b", "a/b"},
		"subdir":    {"incoming", "cfg.txt", "incoming/cfg.txt"},
		"dir only":  {"incoming", "/", "incoming"},
		"windows":   {"users/x", `\a\b`, "users/x/a/b"},
		"slash dir": {"/", "a", "a"},
	}
	for name, tc := range tests {
		got, err := Join(tc.dir, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("%s: Join(%q, %q) = %q, %v; want %q", name, tc.dir, tc.name, got, err, tc.want)
		}
	}
	if _, err := Join("incoming", "../x"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Join with .. = %v, want ErrInvalidName", err)
	}
}

// FuzzClean checks the invariants every protocol relies on: a cleaned name
// is relative, has no "..", no control bytes and no temporary component, and
// cleaning is idempotent.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"a", "/a/b", `\x\y`, "..", "a/../b", "a\x00", ".bootsrv-x", "//", "é/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Clean(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("Clean(%q) error %v is not ErrInvalidName", in, err)
			}
			return
		}
		if got == "" || strings.HasPrefix(got, "/") || strings.Contains(got, `\`) {
			t.Fatalf("Clean(%q) = %q: not a relative slash path", in, got)
		}
		for _, p := range strings.Split(got, "/") {
			if p == ".." || (p == "." && got != ".") || p == "" || strings.HasPrefix(p, TempPrefix) {
				t.Fatalf("Clean(%q) = %q: bad component %q", in, got, p)
			}
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] == 0x7f {
				t.Fatalf("Clean(%q) = %q: control byte", in, got)
			}
		}
		again, err := Clean(got)
		if err != nil || again != got {
			t.Fatalf("Clean not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}
