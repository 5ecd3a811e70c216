package images

import (
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestUploadAreaIsWriteOnly: with an upload area, the public view of the
// store refuses to open, stat or list inside it as if nothing were there;
// a Trusted view and a store with UploadsReadable read it.
func TestUploadAreaIsWriteOnly(t *testing.T) {
	files := map[string]string{
		"incoming/sw1-confg": "enable secret 5 $1$x",
		"incoming/sub/x":     "x",
		"incomingX/a":        "a",
		"boot/a":             "a",
	}
	type op func(s *Store) error
	open := func(name string) op {
		return func(s *Store) error {
			f, _, err := s.Open(name)
			if err == nil {
				f.Close()
			}
			return err
		}
	}
	stat := func(name string) op { return func(s *Store) error { _, err := s.Stat(name); return err } }
	list := func(name string) op { return func(s *Store) error { _, err := s.List(name); return err } }
	tests := map[string]struct {
		op     op
		public bool // the public view may do it
	}{
		"open inside":       {open("incoming/sw1-confg"), false},
		"open, odd name":    {open(`\incoming//sw1-confg`), false},
		"open deeper":       {open("incoming/sub/x"), false},
		"open missing":      {open("incoming/nope"), false},
		"stat inside":       {stat("incoming/sw1-confg"), false},
		"list the folder":   {list("/incoming/"), false},
		"list below":        {list("incoming/sub"), false},
		"stat the folder":   {stat("incoming"), true},
		"list the parent":   {list("/"), true},
		"open a neighbour":  {open("incomingX/a"), true},
		"open outside":      {open("boot/a"), true},
		"list a neighbour":  {list("incomingX"), true},
		"stat outside file": {stat("boot/a"), true},
	}
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(data), 0o644))
	}
	public, err := Open(dir, Options{Uploads: "/incoming/"})
	must(t, err)
	defer public.Close()
	readable, err := Open(dir, Options{Uploads: "incoming", UploadsReadable: true})
	must(t, err)
	defer readable.Close()
	views := map[string]*Store{"public": public, "trusted": public.Trusted(), "readable": readable}
	for name, tc := range tests {
		for view, s := range views {
			err := tc.op(s)
			allowed := tc.public || view != "public"
			switch {
			case name == "open missing" && allowed:
				if errors.Is(err, ErrWriteOnly) || !errors.Is(err, ErrNotFound) {
					t.Errorf("%s (%s): %v, want a plain ErrNotFound", name, view, err)
				}
			case allowed && err != nil:
				t.Errorf("%s (%s): %v, want success", name, view, err)
			case !allowed && (!errors.Is(err, ErrWriteOnly) || !errors.Is(err, ErrNotFound)):
				t.Errorf("%s (%s): %v, want ErrWriteOnly wrapping ErrNotFound", name, view, err)
			}
		}
	}
	// The listing of the parent shows the folder, so clients can CWD in.
	entries, err := public.List("/")
	must(t, err)
	found := false
	for _, fi := range entries {
		found = found || fi.Name() == "incoming"
	}
	if !found {
		t.Error("the upload folder is missing from its parent's listing")
	}

	// HTTP goes through Open: 404, with the same body as a missing file.
	mux := newTestMux(public)
	for _, target := range []string{"/images/incoming/sw1-confg", "/images/incoming/nope"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if body, _ := io.ReadAll(rec.Body); rec.Code != 404 || string(body) != "Not Found\n" {
			t.Errorf("GET %s: %d %q, want 404 Not Found", target, rec.Code, body)
		}
	}
	rec := httptest.NewRecorder()
	newTestMux(readable).ServeHTTP(rec, httptest.NewRequest("GET", "/images/incoming/sw1-confg", nil))
	if rec.Code != 200 {
		t.Errorf("GET with uploads_readable: %d, want 200", rec.Code)
	}
}

func TestOpenOptionsChecked(t *testing.T) {
	dir := t.TempDir()
	for name, opts := range map[string][]Options{
		"root as uploads": {{Uploads: "/"}},
		"dotdot uploads":  {{Uploads: "../x"}},
		"two options":     {{}, {}},
	} {
		if s, err := Open(dir, opts...); err == nil {
			s.Close()
			t.Errorf("%s: Open accepted %+v", name, opts)
		}
	}
}
