package ftp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// maxLine is the longest command line accepted, without its CRLF.
const maxLine = 4096

var (
	errLineTooLong = errors.New("line too long")
	errBadLine     = errors.New("NUL or bare CR in command line")
)

// session is the control-connection front end of one client. It reads and
// checks every command line itself, answers the commands whose policy is
// ours (login, AUTH TLS, PORT/EPRT checks, FEAT, HELP, SITE...) and forwards
// the rest, one at a time, to the library's client handler over an
// in-memory pipe. Replies come back on the pipe and are copied to the
// client whole (multi-line replies are never split by ours).
type session struct {
	srv     *Server
	raw     net.Conn // the client's TCP connection
	conn    net.Conn // raw, or a *tls.Conn after AUTH TLS
	rd      *bufio.Reader
	lib     net.Conn // our end of the pipe to the library
	libDone chan struct{}
	remote  netip.Addr
	log     zerolog.Logger
	started time.Time

	wmu sync.Mutex // serialises writes to conn

	// Owned by the reader goroutine; acct is read by the driver only after
	// the login that set it.
	user     string
	acct     *account
	failures int
	tlsOn    bool
	pbsz     bool
	protP    bool
	epsvAll  bool // EPSV ALL was sent: no other data connection setup (RFC 2428 §4)
	commands int

	mu              sync.Mutex // guards the reply bookkeeping below
	waiters         []*waiter
	transferPending bool
	override        *reply

	closed    atomic.Bool // control connection gone
	ascii     atomic.Bool // TYPE A is in effect (the driver converts)
	bytesDown atomic.Int64
	bytesUp   atomic.Int64
	reason    atomic.Value // string: why the session ended
}

// waiter is a forwarded command waiting for its first reply.
type waiter struct {
	done    chan struct{}
	verb    string
	swallow bool // the reply is the library's, not the client's (login replay)
}

// account is a logged-in identity.
type account struct {
	name   string // "anonymous" for anonymous logins
	anon   bool
	root   string // cleaned store folder seen as "/"
	write  bool
	upload string // anonymous: the upload-only folder, cleaned; "" if none
}

func (s *session) run(ctx context.Context) {
	defer s.close("")
	go s.copyReplies()
	s.raw.SetReadDeadline(s.started.Add(s.srv.conf().Limits.LoginTimeout))
	for {
		line, err := s.readLine()
		switch {
		case errors.Is(err, errLineTooLong):
			s.refuse(reasonLineTooLong, 500, "Command line too long.")
			continue
		case errors.Is(err, errBadLine):
			s.refuse(reasonBadLine, 500, "Invalid characters in command line.")
			continue
		case err != nil:
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				s.srv.m.refusals.WithLabelValues(reasonTimeout).Inc()
				s.reply(421, "Login timeout; closing control connection.")
				s.reason.CompareAndSwap(nil, "login timeout")
			}
			return
		}
		s.commands++
		if quit := s.dispatch(ctx, line); quit || s.closed.Load() {
			return
		}
	}
}

// readLine reads one command line and applies the line-level checks: at
// most maxLine bytes, no NUL, no CR except before the LF (RFC 959 §4.1.3
// ends every command with CRLF). Telnet IAC sequences that clients send
// before ABOR (RFC 959 §4.1.3, "Synch") are dropped.
func (s *session) readLine() (string, error) {
	b, err := s.rd.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = s.rd.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return checkLine(b)
}

// checkLine validates one raw line ending in LF and returns the command
// text without its line end.
func checkLine(b []byte) (string, error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if i := bytes.IndexByte(b, 0xff); i >= 0 {
		b = stripIAC(b)
	}
	if len(b) > maxLine {
		return "", errLineTooLong
	}
	if bytes.IndexByte(b, 0) >= 0 || bytes.IndexByte(b, '\r') >= 0 || bytes.IndexByte(b, '\n') >= 0 {
		return "", errBadLine
	}
	return string(b), nil
}

// stripIAC removes Telnet "IAC x" pairs (RFC 854); "IAC IAC" is a literal
// 0xff.
func stripIAC(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != 0xff {
			out = append(out, b[i])
			continue
		}
		if i+1 < len(b) && b[i+1] == 0xff {
			out = append(out, 0xff)
		}
		i++
	}
	return out
}

// parseCommand splits a line into an upper-case verb and its argument
// (RFC 959 §5.3: verb, one space, argument). Verbs are 3 or 4 letters.
func parseCommand(line string) (verb, arg string, ok bool) {
	verb, arg, _ = strings.Cut(line, " ")
	if len(verb) < 3 || len(verb) > 4 {
		return "", "", false
	}
	for i := 0; i < len(verb); i++ {
		c := verb[i] | 0x20
		if c < 'a' || c > 'z' {
			return "", "", false
		}
	}
	return strings.ToUpper(verb), arg, true
}

// reply writes one reply, possibly multi-line (RFC 959 §4.2: "NNN-" lines
// then a "NNN " line).
func (s *session) reply(code int, lines ...string) {
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", code, sep, l)
	}
	s.write([]byte(b.String()))
}

func (s *session) refuse(reason string, code int, text string) {
	s.srv.m.refusals.WithLabelValues(reason).Inc()
	s.reply(code, text)
}

func (s *session) write(b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.conf().Limits.DataTimeout))
	if _, err := s.conn.Write(b); err != nil {
		s.reason.CompareAndSwap(nil, "write error")
		go s.close("")
	}
}

// forward hands a command to the library and waits for its first reply,
// so that our own replies never overtake the library's (RFC 959 §4.2: one
// reply per command, in order). swallow drops that reply.
func (s *session) forward(verb, arg string, swallow bool) {
	w := &waiter{done: make(chan struct{}), verb: verb, swallow: swallow}
	s.mu.Lock()
	s.waiters = append(s.waiters, w)
	if verb != "ABOR" && verb != "STAT" {
		s.override = nil
	}
	s.mu.Unlock()
	line := verb
	if arg != "" {
		line += " " + arg
	}
	if _, err := io.WriteString(s.lib, line+"\r\n"); err != nil {
		s.close("library closed")
		return
	}
	select {
	case <-w.done:
	case <-s.libDone:
	}
}

// setOverride replaces the next error reply of the library with r: the
// driver's errors are mapped to codes and short texts in one place
// (replyFor) instead of the library's generic 550 with error details.
func (s *session) setOverride(r reply) {
	s.mu.Lock()
	s.override = &r
	s.mu.Unlock()
}

// copyReplies copies the library's replies to the client, one whole reply
// at a time, and matches each to the command waiting for it.
//
// From a transfer's 1xx reply until its final reply has been written, the
// session counts as a transfer in flight, so that a draining Serve does
// not close the control connection between the last data byte and the
// 226 (the driver's own count ends when the file is closed, before it).
func (s *session) copyReplies() {
	defer close(s.libDone)
	defer s.close("")
	defer func() {
		s.mu.Lock()
		if s.transferPending {
			s.transferPending = false
			s.srv.flight.done()
		}
		s.mu.Unlock()
	}()
	br := bufio.NewReader(s.lib)
	for {
		lines, code, err := readReply(br)
		if err != nil {
			return
		}
		s.observeReply(code, lines)
		w, out, ended := s.attribute(code, lines)
		if w == nil || !w.swallow {
			s.write(out)
		}
		if ended {
			s.srv.flight.done()
		}
		if w != nil {
			close(w.done)
		}
	}
}

// attribute decides which forwarded command a reply answers. A 1xx reply
// opens a transfer whose final reply (226, 426, 451...) comes later and
// answers no new command (RFC 959 §5.4 sequencing); ended reports that
// this reply is that final one.
func (s *session) attribute(code int, lines []string) (w *waiter, out []byte, ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code >= 400 && s.override != nil {
		lines = []string{fmt.Sprintf("%d %s", s.override.code, s.override.text)}
		s.override = nil
	}
	out = []byte(strings.Join(lines, "\r\n") + "\r\n")
	switch {
	case code < 200:
		if !s.transferPending {
			s.srv.flight.add()
		}
		s.transferPending = true
		w = s.pop()
	case s.transferPending && code >= 211 && code <= 213 && len(s.waiters) > 0 && s.waiters[0].verb == "STAT":
		// STAT during a transfer is answered while it runs (RFC 959
		// §4.1.3: 211-213); the transfer's final reply is still to come.
		w = s.pop()
	case s.transferPending:
		s.transferPending = false
		ended = true
	default:
		w = s.pop()
	}
	return w, out, ended
}

func (s *session) pop() *waiter {
	if len(s.waiters) == 0 {
		return nil
	}
	w := s.waiters[0]
	s.waiters = s.waiters[1:]
	return w
}

// observeReply notes passive ports announced to the client so that the
// data listener accepts only this client's address (RFC 2577 §5).
func (s *session) observeReply(code int, lines []string) {
	if code != 227 && code != 229 {
		return
	}
	if port := replyPort(code, lines[len(lines)-1]); port > 0 {
		s.srv.expectPassive(port, s.remote)
	}
}

// replyPort extracts the port of a 227 (RFC 959 §4.1.2) or 229 (RFC 2428
// §3) reply.
func replyPort(code int, line string) int {
	open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || close < open {
		return 0
	}
	inner := line[open+1 : close]
	if code == 229 {
		f := strings.Split(inner, "|")
		if len(f) != 5 {
			return 0
		}
		p, _ := strconv.Atoi(f[3])
		return p
	}
	f := strings.Split(inner, ",")
	if len(f) != 6 {
		return 0
	}
	hi, _ := strconv.Atoi(f[4])
	lo, _ := strconv.Atoi(f[5])
	return hi<<8 | lo
}

// readReply reads one whole reply from the library.
func readReply(br *bufio.Reader) ([]string, int, error) {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, 0, err
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) >= 4 && l[3] == ' ' && (len(lines) == 1 || l[:3] == lines[0][:3]) {
			code, err := strconv.Atoi(l[:3])
			if err == nil {
				return lines, code, nil
			}
		}
		if len(lines) == 1 && (len(l) < 4 || l[3] != '-') {
			return lines, 500, nil // malformed; pass through
		}
	}
}

// close ends the session once; reason goes to the session log line.
func (s *session) close(reason string) {
	if reason != "" {
		s.reason.CompareAndSwap(nil, reason)
	}
	if s.closed.Swap(true) {
		return
	}
	s.raw.Close()
	s.lib.Close()
}

// pipeConn is the library's end of the pipe; it reports the control
// connection's addresses (as libAddr) so the library's PASV reply and
// data-connection checks use them.
type pipeConn struct {
	net.Conn
	local, remote net.Addr
}

func (p pipeConn) LocalAddr() net.Addr  { return p.local }
func (p pipeConn) RemoteAddr() net.Addr { return p.remote }

// libAddr is an address as the library is shown it: without an IPv6
// zone, because the library reads addresses with net.ParseIP, which
// refuses one, and then refuses every data connection of a link-local
// client (its check that a data connection comes from the control
// connection's address). The front end keeps the zone and checks with it
// (cmdPORT, passiveListener). sess is the session whose client address it
// is, for the library's callbacks (lookup); nil for a local address.
type libAddr struct {
	text string
	sess *session
}

func newLibAddr(a net.Addr, sess *session) *libAddr {
	return &libAddr{text: withoutZone(a).String(), sess: sess}
}

func (a *libAddr) Network() string { return "tcp" }
func (a *libAddr) String() string  { return a.text }

// withoutZone is a without its IPv6 zone; an address that is no IP
// address and port is returned as it is.
func withoutZone(a net.Addr) net.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.Zone == "" {
		return a
	}
	return &net.TCPAddr{IP: ta.IP, Port: ta.Port}
}
