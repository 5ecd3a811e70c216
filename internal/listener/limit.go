package listener

import (
	"io"
	"net"
	"net/netip"
	"sync"
)

// Refusal reasons passed to a Limits' Refuse function.
const (
	ReasonTotal = "connection_limit" // the listener holds Total connections
	ReasonPerIP = "ip_limit"         // the client's address holds PerIP connections
)

// Limits caps the connections a listener hands out.
type Limits struct {
	// Total caps open connections; 0 means no cap.
	Total int
	// PerIP caps open connections from one client address; 0 means no cap.
	PerIP int
	// Refuse is called, instead of handing the connection out, for a
	// connection over a cap; it may write a short reply. The connection is
	// closed after it returns. Nil: closed without a word.
	Refuse func(c net.Conn, reason string)
}

// Limit returns ln with the caps of lim. A connection counts until it is
// closed; Close on the connections it hands out is idempotent.
func Limit(ln net.Listener, lim Limits) net.Listener {
	return &limited{Listener: ln, lim: lim, perIP: map[netip.Addr]int{}}
}

type limited struct {
	net.Listener
	lim Limits

	mu    sync.Mutex
	open  int
	perIP map[netip.Addr]int
}

func (l *limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if reason := l.take(ip); reason != "" {
			if l.lim.Refuse != nil {
				l.lim.Refuse(c, reason)
			}
			c.Close()
			continue
		}
		return &counted{Conn: c, l: l, ip: ip}, nil
	}
}

// take claims a slot for ip, or says which cap is full.
func (l *limited) take(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.lim.Total > 0 && l.open >= l.lim.Total:
		return ReasonTotal
	case l.lim.PerIP > 0 && l.perIP[ip] >= l.lim.PerIP:
		return ReasonPerIP
	}
	l.open++
	l.perIP[ip]++
	return ""
}

func (l *limited) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// Open is how many connections the listener has handed out that are not
// closed yet (for a gauge).
func Open(ln net.Listener) int {
	l, ok := ln.(*limited)
	if !ok {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// remoteIP is the connection's client address, IPv4-mapped addresses
// unmapped so that one client counts once.
func remoteIP(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// counted releases its slot on the first Close.
type counted struct {
	net.Conn
	l    *limited
	ip   netip.Addr
	once sync.Once
}

func (c *counted) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// ReadFrom passes through to the connection's own, so that a server
// writing a file to a *net.TCPConn still uses sendfile(2).
func (c *counted) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
