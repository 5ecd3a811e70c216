// Package tftp serves the image store over TFTP (RFC 1350) with the option
// extensions blksize (RFC 2348) and tsize (RFC 2349), on top of
// github.com/pin/tftp/v3.
//
// The library does the wire protocol and retransmissions; this package adds
// the policy a boot appliance needs around it: every client name goes
// through images (confinement, no traversal), writes are off unless
// configured and then land only in the upload folder, atomically and never
// over an existing file, a cap on concurrent transfers answers "server busy"
// instead of exhausting sockets, and each transfer is logged once and
// counted in Prometheus metrics.
//
// Known limits of pin/tftp v3.2.0, checked against its source: it
// negotiates neither windowsize (RFC 7440) nor the timeout option (RFC 2349
// section 2, dropped from the OACK), it compares the mode case-sensitively
// ("NETASCII" is served as octet), and every ERROR it sends carries code 1
// with the text of the Go error. Refusals decided before the first packet of
// a transfer therefore get their proper RFC 1350 section 5 code from this
// package (a separate ERROR sent first from a fresh port); the library's own
// code-1 ERROR follows from another port and is ignored by clients, which
// have stopped by then. Errors in the middle of a transfer can only carry
// code 1.
package tftp
