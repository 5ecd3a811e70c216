// Package tftp is bootsrv's TFTP server: RFC 1350 in octet and
// netascii mode, with the option extensions blksize (RFC 2348), tsize and
// timeout (RFC 2349) and windowsize (RFC 7440), negotiated per RFC 2347.
//
// The engine is bootsrv's own. The listener (Serve) only parses requests;
// each transfer runs in one goroutine on its own UDP socket, bound to the
// address the request was sent to (IP_PKTINFO, IPV6_PKTINFO on a wildcard
// listener; an IPv6 link-local address with the zone of the interface the
// request came in on), so replies leave from the address the client
// talked to and from a fresh port, the server's TID (RFC 1350 section 4).
// A listener on [::] serves IPv4 and IPv6; IPv4 clients are logged,
// counted and recorded as IPv4 addresses, never IPv4-mapped ones. Datagrams from any other
// address or port get ERROR 5 and leave the transfer alone. Retransmission
// is driven only by the timer, never by a duplicate ACK (RFC 1123 section
// 4.2.3.1); with a window, an ACK below the last block sent resends from
// the block after it (RFC 7440 section 4). A read keeps one buffer of
// blksize x (windowsize + 64 KiB/blksize) bytes, filled with one read(2) per
// 64 KiB, and sends each block from it without copying.
//
// Request source addresses are not verified, so a transfer stays cheap
// until its peer answers from that address (ACK of the OACK or of block
// 1, or an upload's first DATA): no buffer beyond block 1 and no upload
// file, the server's own timeout whatever the timeout option asked, and
// unverified_retries retransmissions at most. Per client address, transfers
// and unverified transfers are capped; with every slot taken, a new request
// evicts the oldest unverified transfer (see admission).
//
// What it serves comes from a Handler (handler.go): the server never opens
// a file itself, and knows nothing of the image store; bootsrv's handler
// (package netboot) renders boot scripts, confines names to the store and
// lands uploads in the upload folder, atomically and never over an
// existing file, committed only after the final block. Around the protocol
// sits the policy a boot appliance needs: writes are off unless
// configured, caps on concurrent transfers answer "server
// busy" instead of exhausting sockets, the listener outlives transient read
// errors, and each transfer is logged once and counted in Prometheus
// metrics. Refusals carry their RFC 1350 section 5
// code (1 not found, 2 access, 3 too large or disk full, 4 illegal
// operation or mode, 5 unknown TID, 6 exists) and a short text without
// server paths.
package tftp
