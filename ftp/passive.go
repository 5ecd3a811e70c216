package ftp

import (
	"math/rand/v2"
	"sync"
)

// passivePorts is the library's source of passive port candidates
// (ftpserver.PasvPortGetter) over the configured range. For every PASV
// or EPSV the library draws candidates until it has one per port of the
// range (up to 1000) or has drawn four times that many, then binds the
// first free one. Its own PortRange draws each with crypto/rand.Int, a
// big.Int and a getrandom call per draw: about 4000 of them per EPSV with
// a 1000-port range, a fifth of the server's CPU in a bench of short
// sessions.
//
// Each search (the library calls NumberAttempts once before it draws)
// starts at a port drawn from math/rand/v2's top-level generator, the
// runtime's ChaCha8, seeded from the operating system at start and never
// exposed, and walks the range with a stride drawn the same way and
// coprime to its size, so that the first n draws are the n ports of the
// range, each once. Independent draws would leave some out: with 8 ports
// and one of them free, the library's 40 draws missed it one time in 200
// and the client got 421. The port announced is still the walk's first
// free one from a random start: it cannot be predicted from the ones
// announced before, which is what keeps a third party from racing the
// client to its data port (RFC 2577 §8, port stealing; passiveListener
// also refuses foreign addresses). Two searches at the same moment share
// the walk; each still draws random ports, only the full coverage of one
// search is then not certain.
type passivePorts struct {
	PortRange
	mu     sync.Mutex
	next   int // offset of the next draw in the range
	stride int // in [1, n), coprime to n
}

func newPassivePorts(r PortRange) *passivePorts {
	return &passivePorts{PortRange: r, stride: 1}
}

func (p *passivePorts) size() int { return p.Last - p.First + 1 }

// NumberAttempts starts a search from a random port with a random stride
// and tells the library it may try every port of the range (it caps that
// at 1000).
func (p *passivePorts) NumberAttempts() int {
	n := p.size()
	p.mu.Lock()
	p.next, p.stride = rand.IntN(n), coprimeStride(n)
	p.mu.Unlock()
	return n
}

// FetchNext returns the walk's next port, as announced and as listened
// on (the same: no port mapping).
func (p *passivePorts) FetchNext() (exposed, listened int, ok bool) {
	n := p.size()
	p.mu.Lock()
	off := p.next
	p.next = (p.next + p.stride) % n
	p.mu.Unlock()
	return p.First + off, p.First + off, true
}

// coprimeStride is a random step in [1, n) sharing no factor with n, so
// that n steps from any start visit every offset once; 1 when n <= 2.
func coprimeStride(n int) int {
	if n <= 2 {
		return 1
	}
	for {
		if s := 1 + rand.IntN(n-1); gcd(s, n) == 1 {
			return s
		}
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
