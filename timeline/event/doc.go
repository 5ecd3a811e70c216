// Package event is what a bootsrv service tells the boot timeline: one
// Event per DHCP message, transfer, login, script render or refusal, handed
// to a Sink.
//
// The package is a leaf (standard library only) so that tftp/, ftp/, dhcp/
// and the HTTP server can report events without importing the recorder
// (package timeline) or each other. A service takes a Sink in its
// constructor or config, uses Discard when it is given none, and calls
// Record once per fact, after the fact:
//
//	sink.Record(event.Event{
//		IP:       peer.Addr(),
//		Service:  event.TFTP,
//		Kind:     event.Transfer,
//		Result:   event.OK,
//		File:     "pxelinux.0",
//		Bytes:    n,
//		Duration: time.Since(start),
//	})
//
// Record is called on the service's own goroutine, so a Sink must be cheap
// and safe for concurrent use; the timeline's recorder takes one short lock
// and does not allocate for a machine it already holds. A Sink never
// retains the MAC slice it is handed (it copies it), so a service may pass
// a slice of a packet buffer it reuses. Strings are kept as they are given.
//
// # What to fill in
//
// Time may be left zero: the recorder stamps the event when it records it.
// Set MAC whenever the service knows it (DHCP always does; DHCPv6 does
// when the client's DUID, a relay's option 79 or its EUI-64 link-local
// address carries it; an HTTP request with ?mac= does). Set IP to the address the machine holds as far as this
// event shows: the peer of a TFTP, HTTP or FTP connection, the yiaddr of a
// DHCPACK, the ciaddr of a REQUEST, RELEASE or INFORM, the address a
// DHCPv6 REPLY binds. Leave it unset on a
// DHCPOFFER: an event with both a MAC and an IP tells the recorder that
// the IP belongs to that MAC, and an offered address does not yet.
//
// Fields a service does not know stay zero; the timeline shows only what is
// set. Detail is shown to anyone who can read the timeline API: it takes an
// error text or a refusal reason, never a password, a password hash, a
// TLS key or a file's contents. An FTP login puts the user name there.
//
// For boot-loop detection the recorder compares the File of a successful
// TFTP or HTTP Transfer with the bootfile of the last DHCP reply (the File
// of the DHCPOut event, a name or a URL). A service should therefore record
// the name as the image store sees it (for HTTP, the path below /images/),
// record a Transfer only for a complete read (not for a HEAD, a 206 partial
// response or a TFTP request the client aborted after the option
// negotiation, which PXE ROMs do to learn tsize), and give it Result OK only
// when every byte was sent.
package event
