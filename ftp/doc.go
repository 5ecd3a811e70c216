// Package ftp is bootsrv's FTP server (RFC 959 with RFC 2389 FEAT, RFC 2428
// EPSV/EPRT, RFC 3659 SIZE/MDTM/MLST/MLSD/REST STREAM and RFC 4217 FTPS)
// over the images store.
//
// Library choice: the protocol engine is github.com/fclairamb/ftpserverlib
// v0.32.3 (passive/active data connections, listings in LIST/NLST/MLSD
// formats, REST, ABOR, the reply grammar). Its driver
// here (fsDriver) is an afero.Fs over images.Store plus the library's
// GetHandle, ReadDir and RemoveDir extensions, so every name goes through
// images.Clean/Join and os.Root, and transfers get the *os.File itself:
// downloads reach (*net.TCPConn).ReadFrom, i.e. sendfile(2), and named
// users' uploads reach (*os.File).ReadFrom, i.e. splice(2).
//
// The library's control-channel policy did not meet bootsrv's safety
// defaults (it disconnects on the first bad password with no delay, drops
// lines over 4096 bytes without a reply, accepts PORT to ports below 1024,
// keeps a rejected foreign passive connection, advertises and runs SITE,
// MFMT, COMB and HASH, and has no session caps). So every control
// connection goes through a front end (session.go) first: it reads and
// checks each line (500 for more than 4096 bytes, NUL or a bare CR), answers
// USER (331 to any name), PASS (bcrypt, delayed 530, disconnect after
// limits.login_failures), AUTH TLS (TLS runs in the front end, and plaintext
// pipelined after AUTH is discarded), PBSZ, PROT, FEAT, HELP, STRU, MODE,
// SITE (502) and checks PORT/EPRT (client's own address, port >= 1024, else
// 500) and LIST -R (504). Only the commands in the table in commands.go
// reach the library, one at a time over an in-memory pipe, after login; its
// replies are copied back whole and error replies are replaced with the
// code and short text from replyFor (errors.go), e.g. 452 for a full disk.
// Session caps answer 421 before the library sees the connection, and a
// failed accept (out of file descriptors, say) is counted and retried with
// a backoff, never the end of the service. A
// STAT during a transfer is answered (211) while the transfer runs; the
// transfer's final reply is matched to the transfer. On shutdown, a
// transfer counts as in flight until its final reply has been written, so
// a drain never cuts a 226.
//
// Uploads: named users with write permission write to a per-user,
// per-name hidden partial file (images.PartialName). An upload is committed
// (fsync, link(2) into place, never over an existing file unless
// allow_overwrite) only when the data connection ended with a clean EOF,
// the library reported no error or ABOR, and the client did not hang up
// its control connection with it: a killed client's kernel closes both at
// once, and the data EOF alone looks like the end of the file. After the
// EOF the data is fsynced, then the control socket itself is asked (poll
// for POLLRDHUP) within a grace of two round trips, 20ms to 250ms from the
// EOF, which the fsync overlaps (commit.go). A data connection that is
// reset or times out ends no file (RFC 959 §3.4.1). Otherwise the partial
// stays, invisible to everyone else and to TFTP, and SIZE shows its owner
// how much arrived so REST+STOR or APPE can resume, for ftp.partial_ttl. Anonymous uploads, when anonymous.upload is set, go only
// into the upload folder, which anonymous users cannot list or read, never
// resume and never overwrite; interrupted ones are deleted. The store
// keeps the upload folder write-only for every reader (images.Options) but
// named users with write permission, whose driver reads through the
// store's Trusted view: they collect the backups devices upload.
//
// TYPE A line ends are converted by the driver's transfer handles
// (ascii.go), not by the library, whose converter hid the data
// connection's deadlines: ASCII transfers time out after data_timeout
// without progress, like binary ones. The front end refuses SIZE and REST
// in TYPE A, as the library did.
//
// IPv6: the control listener may be [::] (IPv4 and IPv6; IPv4 clients
// are logged, counted and recorded as IPv4 addresses) or a link-local
// address with its zone. On an IPv6 control connection data connections
// are set up with EPSV, whose reply carries only a port (RFC 2428 §3), or
// EPRT naming the client's own IPv6 address; PORT and PASV, which carry
// IPv4 addresses, get 522, as do EPRT and EPSV naming the other family.
// EPSV ALL is honoured (RFC 2428 §4). The library parses addresses with
// net.ParseIP, which refuses IPv6 zones, so it is shown addresses without
// them (libAddr); the front end compares with zones, so a link-local
// client is the one on its control connection's link. A link-local
// client's EPRT gets 502: the library dials without the zone, which the
// kernel cannot route; EPSV works.
//
// Defaults that differ from RFC 959: the default TYPE is I (binary), since
// devices fetching firmware often send no TYPE; MODE and STRU accept only S
// and F.
package ftp
