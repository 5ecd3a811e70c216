package tftp

import (
	"bytes"
	"io"
	"net"
	"net/netip"
)

// VirtualFunc answers a read request from memory instead of the image
// store: ok false means the name is not virtual and the store is asked; an
// error fails the request ("i/o error" to the client, the error in the
// log). name is the name as the client sent it; local is the server address
// the request arrived at (invalid when unknown), remote the client's.
type VirtualFunc func(name string, local, remote netip.Addr) (data []byte, ok bool, err error)

// SetVirtual makes fn answer read requests before the image store (used
// for per-machine boot scripts); nil turns it off. It may be called at any
// time, also while Serve runs. Virtual files are sent like store files: tsize (RFC 2349) is their length, and they are
// counted in the transfer metrics.
func (s *Server) SetVirtual(fn VirtualFunc) { s.virtual.Store(&fn) }

// open finds a read request's data: a virtual file, else the store's file.
func (s *Server) open(file string, local net.IP, peer net.UDPAddr) (io.ReadSeekCloser, error) {
	if fn := s.virtual.Load(); fn != nil && *fn != nil {
		l, _ := netip.AddrFromSlice(local)
		r, _ := netip.AddrFromSlice(peer.IP)
		data, ok, err := (*fn)(file, l.Unmap(), r.Unmap())
		if err != nil {
			return nil, err
		}
		if ok {
			return nopCloser{bytes.NewReader(data)}, nil
		}
	}
	f, _, err := s.store.Open(file)
	if err != nil {
		return nil, err
	}
	return f, nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }
