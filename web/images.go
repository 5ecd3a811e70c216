package web

import (
	"net/http"
	"net/url"
	"strings"
)

// imagesRouter sends requests for paths under the image prefix to files
// (the store, with boot scripts in front) and every other request to mux.
//
// It decides before the mux sees the request because http.ServeMux
// answers a path that is not in canonical form ("//", "/./") with a
// redirect to the clean form, and firmware HTTP clients do not follow
// redirects: shim, loaded by UEFI HTTP boot from .../amd64/shimx64.efi,
// asks for .../amd64//grubx64.efi. So the prefix is matched on the
// path's components, skipping empty and "." ones, and the rest of the path
// goes to files unchanged: images.Clean drops those components there too,
// as for TFTP names, and refuses "..", so no form of ".." (the path is
// already percent-decoded: "%2e%2e", "..%2f") leaves the store.
type imagesRouter struct {
	prefix     []string // components of http.images_path; none for "/"
	files, mux http.Handler
}

// routeImages serves files at prefix (a checked http.images_path: starts
// and ends with "/") in front of mux.
func routeImages(prefix string, files, mux http.Handler) http.Handler {
	return &imagesRouter{prefix: components(prefix), files: files, mux: mux}
}

func (rt *imagesRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := rt.match(r.URL.Path)
	if !ok {
		rt.mux.ServeHTTP(w, r)
		return
	}
	// As http.StripPrefix does: a shallow copy with the name as the path.
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path, r2.URL.RawPath = name, ""
	rt.files.ServeHTTP(w, r2)
}

// match reports whether path is under the prefix and returns what follows
// the prefix. With prefix "/", every path but bootsrv's own routes is.
func (rt *imagesRouter) match(path string) (string, bool) {
	if !strings.HasPrefix(path, "/") { // "*" of OPTIONS, CONNECT's authority
		return "", false
	}
	if len(rt.prefix) == 0 {
		return path, !isOwnPath(path)
	}
	rest := path
	for _, want := range rt.prefix {
		var c string
		c, rest = nextComponent(rest)
		if c != want {
			return "", false
		}
	}
	return rest, true
}

// nextComponent splits the first component off p, passing over empty and
// "." components, and returns it with the rest of p.
func nextComponent(p string) (string, string) {
	for {
		p = strings.TrimLeft(p, "/")
		c, rest := p, ""
		if i := strings.IndexByte(p, '/'); i >= 0 {
			c, rest = p[:i], p[i:]
		}
		if c != "." {
			return c, rest
		}
		p = rest
	}
}

// components are the components of p, without empty and "." ones.
func components(p string) []string {
	var out []string
	for c, rest := nextComponent(p); c != ""; c, rest = nextComponent(rest) {
		out = append(out, c)
	}
	return out
}

// isOwnPath reports whether path, in clean form, is one of ownPaths or in
// the subtree of one.
func isOwnPath(path string) bool {
	clean := "/" + strings.Join(components(path), "/")
	for _, own := range ownPaths {
		if clean == strings.TrimSuffix(own, "/") || (strings.HasSuffix(own, "/") && strings.HasPrefix(clean, own)) {
			return true
		}
	}
	return false
}
