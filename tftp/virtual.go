package tftp

import (
	"net/netip"

	"github.com/bootsrv/bootsrv/images"
)

// ScriptFunc makes a file for one client, e.g. a per-machine iPXE script.
// name is the requested name after images.Clean ("boot.ipxe", never with a
// leading slash). ok false falls through to the image store; a non-nil err
// refuses the request (mapped like store errors, "i/o error" otherwise).
type ScriptFunc func(name string, remote netip.Addr) (data []byte, ok bool, err error)

// SetScripts installs f in front of the image store for read requests; nil
// removes it. Files it serves are transfers like any other: tsize is their
// length, and they are logged and counted in the usual metrics. Safe to
// call while serving.
func (s *Server) SetScripts(f func(name string, remote netip.Addr) (data []byte, ok bool, err error)) {
	if f == nil {
		s.scripts.Store(nil)
		return
	}
	sf := ScriptFunc(f)
	s.scripts.Store(&sf)
}

// openScript asks the installed ScriptFunc, if any, for name.
func (s *Server) openScript(name string, remote netip.Addr) (source, bool, error) {
	f := s.scripts.Load()
	if f == nil {
		return source{}, false, nil
	}
	clean, err := images.Clean(name)
	if err != nil {
		return source{}, false, err
	}
	data, ok, err := (*f)(clean, remote)
	if err != nil || !ok {
		return source{}, false, err
	}
	return bytesSource(data), true, nil
}
