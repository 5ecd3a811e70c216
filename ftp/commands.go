package ftp

import (
	"context"
	"crypto/tls"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bootsrv/bootsrv/timeline/event"
)

// command is one entry of the command table.
type command struct {
	// fn handles the command; nil forwards it to the library unchanged.
	fn func(s *session, ctx context.Context, verb, arg string) (quit bool)
	// open commands are allowed before login (RFC 959 §5.4: 530 otherwise).
	open bool
	// data commands open a data connection; with tls.require they need
	// PROT P first (RFC 4217 §9).
	data bool
}

// commands lists every verb the server accepts. Anything else is 500 (not
// recognised) or, for known-but-refused ones such as SITE, 502.
var commands = map[string]command{
	"USER": {fn: (*session).cmdUSER, open: true},
	"PASS": {fn: (*session).cmdPASS, open: true},
	"QUIT": {open: true},
	"AUTH": {fn: (*session).cmdAUTH, open: true},
	"PBSZ": {fn: (*session).cmdPBSZ, open: true},
	"PROT": {fn: (*session).cmdPROT, open: true},
	"FEAT": {fn: (*session).cmdFEAT, open: true},
	"HELP": {fn: (*session).cmdHELP, open: true},
	"SYST": {open: true},
	"NOOP": {open: true},
	"OPTS": {open: true},
	"STRU": {fn: (*session).cmdSTRU},
	"MODE": {fn: (*session).cmdMODE},
	"ALLO": {fn: (*session).cmdALLO},
	"SITE": {fn: (*session).cmdNotImplemented},
	"PORT": {fn: (*session).cmdPORT},
	"EPRT": {fn: (*session).cmdPORT},
	"LIST": {fn: (*session).cmdLIST, data: true},
	"NLST": {fn: (*session).cmdLIST, data: true},
	"STAT": {fn: (*session).cmdLIST},
	"TYPE": {fn: (*session).cmdTYPE},
	"SIZE": {fn: (*session).cmdSIZE},
	"REST": {fn: (*session).cmdREST},
	"RETR": {data: true},
	"STOR": {data: true},
	"APPE": {data: true},
	"MLSD": {data: true},
	"PWD":  {}, "XPWD": {}, "CWD": {}, "XCWD": {}, "CDUP": {}, "XCUP": {},
	"PASV": {fn: (*session).cmdPASV},
	"EPSV": {fn: (*session).cmdEPSV},
	"MLST": {}, "MDTM": {},
	"ABOR": {}, "DELE": {}, "MKD": {}, "XMKD": {}, "RMD": {},
	"XRMD": {}, "RNFR": {}, "RNTO": {},
}

// dispatch runs one command line; it reports whether the session ends.
func (s *session) dispatch(ctx context.Context, line string) bool {
	verb, arg, ok := parseCommand(line)
	if !ok {
		s.refuse(reasonUnsupported, 500, "Syntax error, command unrecognized.")
		return false
	}
	cmd, known := commands[verb]
	switch {
	case !known:
		s.refuse(reasonUnsupported, 500, "Command not understood.")
		return false
	case s.acct == nil && !cmd.open:
		s.refuse(reasonNotLoggedIn, 530, "Please login with USER and PASS.")
		return false
	case cmd.data && s.srv.conf().TLS.Require && !s.protP:
		s.refuse(reasonTLSRequired, 521, "Data connections must be protected (PROT P).")
		return false
	}
	if cmd.fn != nil {
		return cmd.fn(s, ctx, verb, arg)
	}
	switch verb {
	case "XCUP":
		verb = "CDUP"
	case "QUIT":
		s.reason.CompareAndSwap(nil, "quit")
	}
	s.forward(verb, arg, false)
	return verb == "QUIT"
}

func (s *session) cmdUSER(_ context.Context, _, arg string) bool {
	switch {
	case s.acct != nil:
		s.reply(503, "Already logged in.")
	case s.srv.conf().TLS.Require && !s.tlsOn:
		s.refuse(reasonTLSRequired, 530, "TLS required: use AUTH TLS first.")
	case arg == "":
		s.reply(501, "USER needs a name.")
	default:
		// 331 to every name, known or not, so that user names cannot be
		// probed (RFC 2577 §7).
		s.user = arg
		s.reply(331, "Please specify the password.")
	}
	return false
}

func (s *session) cmdPASS(ctx context.Context, _, arg string) bool {
	switch {
	case s.acct != nil:
		s.reply(503, "Already logged in.")
		return false
	case s.user == "":
		s.reply(503, "Login with USER first.")
		return false
	}
	acct, kind := s.srv.authenticate(s.user, arg)
	if acct == nil {
		return s.loginFailed(ctx)
	}
	s.srv.m.logins.WithLabelValues(kind).Inc()
	s.srv.record(event.Event{IP: s.remote, Kind: event.Login, Result: event.OK, Detail: acct.name})
	s.acct = acct
	s.raw.SetReadDeadline(time.Time{})
	s.log = s.log.With().Str("user", acct.name).Logger()
	// Replay the login to the library, whose driver picks up acct. Its
	// 331 is ours already; its 230 goes to the client.
	s.forward("USER", acct.name, true)
	s.forward("PASS", "-", false)
	return false
}

// loginFailed answers a bad password after a delay and closes the
// connection after Limits.LoginFailures of them (RFC 2577 §5).
func (s *session) loginFailed(ctx context.Context) bool {
	s.srv.m.logins.WithLabelValues("failure").Inc()
	// Not the name tried: people type passwords into the user prompt.
	s.srv.record(event.Event{IP: s.remote, Kind: event.Login, Result: event.Failed, Detail: "login incorrect"})
	s.failures++
	s.user = ""
	t := time.NewTimer(s.srv.conf().Limits.LoginFailureDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	s.reply(530, "Login incorrect.")
	if s.failures >= s.srv.conf().Limits.LoginFailures {
		s.srv.m.refusals.WithLabelValues(reasonLoginLimit).Inc()
		s.reason.CompareAndSwap(nil, "too many login failures")
		return true
	}
	return false
}

// authenticate checks a login and returns the account and the metric
// result, or nil. Unknown users are checked against a dummy hash so that
// both cases take the same time.
func (srv *Server) authenticate(name, pass string) (*account, string) {
	if lower := strings.ToLower(name); lower == "anonymous" || lower == "ftp" {
		if !srv.conf().Anonymous.IsEnabled() {
			return nil, ""
		}
		return srv.cur.Load().anon, "anonymous"
	}
	u, ok := srv.cur.Load().users[name]
	hash := srv.dummyHash
	if ok {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !ok {
		return nil, ""
	}
	root, _ := cleanDir(u.Root)
	return &account{name: u.Name, root: root, write: u.Write}, "success"
}

// cmdAUTH starts TLS on the control connection (RFC 4217 §4). Anything the
// client sent after the AUTH line in plaintext is discarded, so it cannot
// be injected into the protected session (CVE-2011-0411 style).
func (s *session) cmdAUTH(_ context.Context, _, arg string) bool {
	mech := strings.ToUpper(strings.TrimSpace(arg))
	switch {
	case s.srv.cur.Load().tls == nil:
		s.reply(502, "TLS not configured.")
		return false
	case mech != "TLS" && mech != "TLS-C" && mech != "SSL":
		s.reply(504, "Unsupported security mechanism.")
		return false
	case s.tlsOn || s.acct != nil:
		s.reply(503, "AUTH not allowed now.")
		return false
	}
	s.reply(234, "Proceed with negotiation.")
	s.rd.Discard(s.rd.Buffered())
	tc := tls.Server(s.raw, s.srv.cur.Load().tls)
	tc.SetDeadline(time.Now().Add(s.srv.conf().Limits.DataTimeout))
	if err := tc.Handshake(); err != nil {
		s.log.Debug().Err(err).Msg("TLS handshake failed")
		s.reason.CompareAndSwap(nil, "tls handshake failed")
		return true
	}
	tc.SetDeadline(time.Time{})
	s.raw.SetReadDeadline(s.started.Add(s.srv.conf().Limits.LoginTimeout))
	s.wmu.Lock()
	s.conn = tc
	s.wmu.Unlock()
	s.rd.Reset(tc)
	s.tlsOn = true
	return false
}

func (s *session) cmdPBSZ(_ context.Context, _, arg string) bool {
	if !s.tlsOn {
		s.reply(503, "PBSZ needs AUTH TLS first.")
		return false
	}
	s.pbsz = true
	// RFC 4217 §8: the buffer size is always 0 for TLS.
	s.reply(200, "PBSZ=0")
	return false
}

func (s *session) cmdPROT(_ context.Context, verb, arg string) bool {
	level := strings.ToUpper(strings.TrimSpace(arg))
	switch {
	case !s.pbsz:
		s.reply(503, "PROT needs PBSZ first.")
	case level == "P":
		s.protP = true
		s.forward(verb, "P", false)
	case level == "C" && s.srv.conf().TLS.Require:
		s.refuse(reasonTLSRequired, 534, "Clear data connections refused by policy.")
	case level == "C":
		s.protP = false
		s.forward(verb, "C", false)
	default:
		s.reply(504, "PROT level not supported.")
	}
	return false
}

func (s *session) cmdFEAT(context.Context, string, string) bool {
	// RFC 2389 §3.2; only extensions that work through this front end.
	feats := []string{"Features:"}
	if s.srv.cur.Load().tls != nil {
		feats = append(feats, " AUTH TLS", " PBSZ", " PROT")
	}
	feats = append(feats, " EPRT", " EPSV", " MDTM", " MLSD", " MLST type*;size*;modify*;perm*;",
		" REST STREAM", " SIZE", " TVFS", " UTF8", "End")
	s.reply(211, feats...)
	return false
}

func (s *session) cmdHELP(context.Context, string, string) bool {
	s.reply(214,
		"The following commands are recognized.",
		" ABOR APPE AUTH CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MKD MLSD MLST",
		" MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REST RETR RMD RNFR",
		" RNTO SIZE STAT STOR STRU SYST TYPE USER",
		"Help OK.")
	return false
}

func (s *session) cmdSTRU(_ context.Context, _, arg string) bool {
	if strings.EqualFold(strings.TrimSpace(arg), "F") {
		s.reply(200, "Structure set to F.")
	} else {
		s.reply(504, "Only file structure is supported.")
	}
	return false
}

func (s *session) cmdMODE(_ context.Context, _, arg string) bool {
	if strings.EqualFold(strings.TrimSpace(arg), "S") {
		s.reply(200, "Mode set to S.")
	} else {
		s.reply(504, "Only stream mode is supported.")
	}
	return false
}

func (s *session) cmdALLO(context.Context, string, string) bool {
	s.reply(202, "ALLO not needed.")
	return false
}

func (s *session) cmdNotImplemented(context.Context, string, string) bool {
	s.refuse(reasonUnsupported, 502, "Command not implemented.")
	return false
}

// cmdPORT checks PORT (RFC 959 §4.1.2) and EPRT (RFC 2428 §2): the data
// connection may only go to the client's own address and to a port of
// 1024 or more, which stops FTP bounce attacks (RFC 2577 §3). An address
// of the other family than the control connection's is no client's own:
// PORT carries only IPv4, and EPRT answers 522 with the protocol to use
// (RFC 2428 §2). A link-local client's own address is refused with 502:
// the library dials the address without its zone, which the kernel
// cannot route (EPSV works).
func (s *session) cmdPORT(_ context.Context, verb, arg string) bool {
	switch {
	case s.srv.conf().DisableActive:
		s.refuse(reasonUnsupported, 502, "Active mode disabled; use PASV or EPSV.")
		return false
	case s.epsvAll:
		s.refuse(reasonUnsupported, 503, "EPSV ALL in effect; use EPSV.")
		return false
	}
	var ap netip.AddrPort
	var err error
	if verb == "PORT" {
		ap, err = parsePORT(arg)
	} else {
		ap, err = parseEPRT(arg)
	}
	addr := ap.Addr().Unmap()
	switch {
	case err != nil:
		s.reply(501, "Syntax error in parameters.")
		return false
	case addr.Is6() != s.remote.Is6() && verb == "PORT":
		s.refuse(reasonBadPort, 522, "PORT is IPv4 only; use EPRT.")
		return false
	case addr.Is6() != s.remote.Is6():
		s.refuse(reasonBadPort, 522, "Network protocol not supported, use ("+s.family()+").")
		return false
	case addr != s.remote.WithZone("") || ap.Port() < 1024:
		s.refuse(reasonBadPort, 500, "Illegal "+verb+" command.")
		return false
	case s.remote.Zone() != "":
		s.refuse(reasonUnsupported, 502, "Active mode cannot reach link-local addresses; use EPSV.")
		return false
	}
	if verb == "PORT" {
		s.forward(verb, arg, false)
	} else {
		s.forward(verb, "|"+s.family()+"|"+addr.String()+"|"+strconv.Itoa(int(ap.Port()))+"|", false)
	}
	return false
}

// cmdPASV forwards PASV on IPv4. Its reply carries an IPv4 address (RFC
// 959 §4.1.2), so on an IPv6 control connection the client gets 522 and
// is pointed to EPSV, whose reply carries none (RFC 2428 §3); the library
// would answer 421 and leave its listener open. public_host does not
// change that: it is the address of IPv4 clients behind NAT.
func (s *session) cmdPASV(_ context.Context, verb, arg string) bool {
	switch {
	case s.epsvAll:
		s.refuse(reasonUnsupported, 503, "EPSV ALL in effect; use EPSV.")
	case s.remote.Is6():
		s.refuse(reasonUnsupported, 522, "PASV is IPv4 only; use EPSV.")
	default:
		s.forward(verb, arg, false)
	}
	return false
}

// cmdEPSV answers EPSV's arguments (RFC 2428 §3-4) and forwards plain
// EPSV to the library, whose 229 reply carries only the port: the client
// connects to its control connection's address, IPv4 or IPv6, link-local
// included. A network protocol number must be the control connection's
// (522 names it); "EPSV ALL" promises EPSV only, and PORT, EPRT and PASV
// are refused from then on.
func (s *session) cmdEPSV(_ context.Context, verb, arg string) bool {
	switch a := strings.ToUpper(strings.TrimSpace(arg)); a {
	case "":
		s.forward(verb, "", false)
	case "ALL":
		s.epsvAll = true
		s.reply(200, "EPSV ALL ok.")
	case "1", "2":
		if a != s.family() {
			s.reply(522, "Network protocol not supported, use ("+s.family()+").")
			return false
		}
		s.forward(verb, "", false)
	default:
		s.reply(501, "Syntax error in parameters.")
	}
	return false
}

// family is the control connection's network protocol as RFC 2428 numbers
// it: "1" IPv4, "2" IPv6.
func (s *session) family() string {
	if s.remote.Is6() {
		return "2"
	}
	return "1"
}

// cmdLIST refuses recursive listings ("LIST -R"), which let one command
// walk the whole tree, then forwards.
func (s *session) cmdLIST(_ context.Context, verb, arg string) bool {
	if recursiveFlag(arg) {
		s.refuse(reasonUnsupported, 504, "Recursive listing not allowed.")
		return false
	}
	s.forward(verb, arg, false)
	return false
}

// recursiveFlag reports whether a listing argument carries ls options
// with R, such as "-R" or "-laR".
func recursiveFlag(arg string) bool {
	for _, f := range strings.Fields(arg) {
		if !strings.HasPrefix(f, "-") {
			break
		}
		if strings.Contains(f, "R") {
			return true
		}
	}
	return false
}

// cmdTYPE notes whether TYPE A is in effect, for the driver, which
// converts ASCII transfers itself (ascii.go), and forwards. The argument is
// read as the library reads it; it answers 504 to any other type and
// keeps the current one.
func (s *session) cmdTYPE(_ context.Context, verb, arg string) bool {
	switch strings.ReplaceAll(strings.ToUpper(arg), " ", "") {
	case "A", "AN", "L7":
		s.ascii.Store(true)
	case "I", "L8":
		s.ascii.Store(false)
	}
	s.forward(verb, arg, false)
	return false
}

// cmdSIZE refuses SIZE in TYPE A: the size on the wire is not the size on
// disk, and computing it means reading the whole file (RFC 3659 §4).
func (s *session) cmdSIZE(_ context.Context, verb, arg string) bool {
	if s.ascii.Load() {
		s.reply(550, "SIZE not allowed in ASCII mode.")
		return false
	}
	s.forward(verb, arg, false)
	return false
}

// cmdREST refuses REST in TYPE A, where a byte offset on the wire is not
// one on disk (RFC 3659 §5).
func (s *session) cmdREST(_ context.Context, verb, arg string) bool {
	if s.ascii.Load() {
		s.reply(501, "Resuming transfers not allowed in ASCII mode.")
		return false
	}
	s.forward(verb, arg, false)
	return false
}
