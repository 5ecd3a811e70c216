package tftp

import (
	"net/netip"
)

// VirtualFunc answers a read request from memory instead of the image
// store (used for per-machine boot scripts): ok false means the name is not
// virtual and the store is asked; an error refuses the request (store
// errors map to their TFTP codes, others to "i/o error"). name is the name
// as the client sent it; local is the server address the request arrived
// at (invalid when unknown), remote the client's.
type VirtualFunc func(name string, local, remote netip.Addr) (data []byte, ok bool, err error)

// SetVirtual makes fn answer read requests before the image store; nil
// turns it off. It may be called at any time, also while Serve runs.
// Virtual files are transfers like any other: tsize (RFC 2349) is their
// length, and they are logged and counted in the usual metrics.
func (s *Server) SetVirtual(fn VirtualFunc) {
	if fn == nil {
		s.virtual.Store(nil)
		return
	}
	s.virtual.Store(&fn)
}

// openVirtual asks the installed VirtualFunc, if any, for name.
func (s *Server) openVirtual(name string, local, remote netip.Addr) (source, bool, error) {
	fn := s.virtual.Load()
	if fn == nil {
		return source{}, false, nil
	}
	data, ok, err := (*fn)(name, local.Unmap(), remote.Unmap())
	if err != nil || !ok {
		return source{}, false, err
	}
	return bytesSource(data), true, nil
}
