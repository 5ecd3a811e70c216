package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

// mainDriver is the library's MainDriver. Logins were checked by the
// session front end already; AuthUser only picks up the result.
type mainDriver struct {
	srv      *Server
	settings *ftpserver.Settings
}

func (d *mainDriver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }

func (d *mainDriver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	sess := d.srv.lookup(cc)
	if sess == nil {
		return "Service not available.", errors.New("unknown session")
	}
	cc.SetExtra(sess)
	return d.srv.conf().Banner, nil
}

func (d *mainDriver) ClientDisconnected(ftpserver.ClientContext) {}

func (d *mainDriver) AuthUser(cc ftpserver.ClientContext, _, _ string) (ftpserver.ClientDriver, error) {
	sess, _ := cc.Extra().(*session)
	if sess == nil || sess.acct == nil {
		return nil, errors.New("not authenticated")
	}
	store := d.srv.store
	if sess.acct.write && !sess.acct.anon {
		store = store.Trusted()
	}
	return &fsDriver{sess: sess, srv: d.srv, acct: sess.acct, store: store}, nil
}

func (d *mainDriver) GetTLSConfig() (*tls.Config, error) {
	if d.srv.cur.Load().tls == nil {
		return nil, errors.New("TLS not configured")
	}
	return d.srv.cur.Load().tls, nil
}

// PostAuthMessage is the text of the 230 reply.
func (d *mainDriver) PostAuthMessage(_ ftpserver.ClientContext, _ string, err error) string {
	if err != nil {
		return "Login incorrect."
	}
	return "Login successful."
}

// QuitMessage is the text of the 221 reply.
func (d *mainDriver) QuitMessage() string { return "Goodbye." }

// WrapPassiveListener makes passive data listeners accept only the client
// the port was announced to; connections from any other address are closed
// and counted, and the listener keeps waiting (RFC 2577 §5, vsftpd's
// pasv_promiscuous=NO). The address is compared with its IPv6 zone: a
// link-local client is the one on the link of its control connection.
//
// The library binds the listener to the wildcard address, IPv4 and IPv6
// (Go's "tcp" on 0.0.0.0), not to the control connection's address: a
// client connects to the address of its control connection (EPSV), or to
// the PASV reply's, and this check, not the bound address, is what keeps
// others out.
func (d *mainDriver) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	return &passiveListener{Listener: l, srv: d.srv}, nil
}

type passiveListener struct {
	net.Listener
	srv *Server
}

func (l *passiveListener) Accept() (net.Conn, error) {
	port := 0
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		want, ok := l.srv.passiveClient(port)
		got, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		if ok && got.Addr().Unmap() == want {
			return libDataConn(c), nil
		}
		l.srv.m.refusals.WithLabelValues(reasonForeignData).Inc()
		l.srv.log.Warn().Str("remote", c.RemoteAddr().String()).Int("port", port).
			Msg("ftp: refused passive data connection from a foreign address")
		c.Close()
	}
}

// libDataConn is a passive data connection as the library is shown it:
// with a RemoteAddr without IPv6 zone (see libAddr). A *net.TCPConn stays
// one underneath, so ReadFrom (sendfile) and SyscallConn (splice) still
// reach it.
func libDataConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	ra, _ := c.RemoteAddr().(*net.TCPAddr)
	if !ok || ra == nil || ra.Zone == "" {
		return c
	}
	return zonelessConn{TCPConn: tc, remote: withoutZone(ra)}
}

type zonelessConn struct {
	*net.TCPConn
	remote net.Addr
}

func (c zonelessConn) RemoteAddr() net.Addr { return c.remote }

// chanListener hands the library the pipe ends of admitted sessions.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(ctx context.Context, c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
	case <-ctx.Done():
	}
	c.Close()
	return false
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		// The library recognises this text as a normal close.
		return nil, &net.OpError{Op: "accept", Net: "pipe", Err: errors.New("use of closed network connection")}
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
