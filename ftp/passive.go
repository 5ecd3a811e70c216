package ftp

import "math/rand/v2"

// passivePorts is the library's source of passive port candidates
// (ftpserver.PasvPortGetter) over the configured range. For every PASV
// or EPSV the library draws candidates until it has one per port of the
// range (up to 1000) or has drawn four times that many, then binds the
// first free one. Its own PortRange draws each with crypto/rand.Int, a
// big.Int and a getrandom call per draw: about 4000 of them per EPSV with
// a 1000-port range, a fifth of the server's CPU in a bench of short
// sessions.
//
// The draws here come from math/rand/v2's top-level generator, the
// runtime's ChaCha8, seeded from the operating system at start and never
// exposed: the next port cannot be predicted from the ones announced
// before, which is what keeps a third party from racing the client to its
// data port (RFC 2577 §8, port stealing; passiveListener also refuses
// foreign addresses). It needs no lock, so concurrent sessions do not
// contend.
type passivePorts PortRange

// FetchNext returns a port of the range, as announced and as listened
// on (the same: no port mapping).
func (r passivePorts) FetchNext() (exposed, listened int, ok bool) {
	p := r.First + rand.IntN(r.Last-r.First+1)
	return p, p, true
}

// NumberAttempts is how many distinct ports the library may try: all of
// them (it caps that at 1000).
func (r passivePorts) NumberAttempts() int { return r.Last - r.First + 1 }
