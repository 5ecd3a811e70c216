package images

import (
	"errors"
	"mime"
	"net/http"
	"path"
	"strings"
)

// Handler serves the store read-only over HTTP for iPXE and UEFI HTTP boot
// clients (RFC 9110). Mount it behind http.StripPrefix: the request path
// that remains is the store name.
//
// Only GET and HEAD are allowed (405 otherwise, RFC 9110 §15.5.6). Names go
// through Store.Open, so they are cleaned by Clean: traversal ("..", also
// percent-encoded or with backslashes), temporary upload names, symbolic
// links leaving the store, directories and special files all answer 404
// with a fixed body; 403 is used only for files the server may not read,
// and no answer ever names a server path. Directories are never listed.
// Range (RFC 9110 §14) and conditional requests (§13) are handled by
// http.ServeContent on the *os.File itself, so a full GET is sent with
// sendfile(2).
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Store) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// A name ending in "/" asks for a directory: there are no listings.
	if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	f, fi, err := s.Open(r.URL.Path)
	if err != nil {
		code := http.StatusNotFound
		if errors.Is(err, ErrReadOnly) { // mapErr's fs.ErrPermission
			code = http.StatusForbidden
		}
		http.Error(w, http.StatusText(code), code)
		return
	}
	defer f.Close()
	// The store holds boot images, not pages: a type comes from the
	// extension or is application/octet-stream, never sniffed.
	ctype := mime.TypeByExtension(path.Ext(fi.Name()))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}
