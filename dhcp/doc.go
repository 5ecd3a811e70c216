// Package dhcp is bootsrv's DHCPv4 responder (RFC 2131, RFC 2132) and
// DHCPv6 server (RFC 8415), built on github.com/insomniacslk/dhcp.
//
// In server mode it hands out addresses from pools and reservations, keeps
// every acknowledged lease durable in a lease store (store.go; the bbolt
// file of boltstore.go: a lease is on disk before its ACK is sent, with
// many ACKs grouped into one transaction), serves
// relayed requests (RFC 3046 option 82 is echoed) and answers PXE and iPXE
// clients with boot information chosen by a pure policy function
// (bootPolicy in policy.go, over the boot package it shares with DHCPv6). Zero-touch provisioning rules (rules.go) give
// matching devices (by vendor class, MAC OUI or relay option 82) a
// bootfile, TFTP server and options, chosen by the pure function matchRule.
//
// In proxy mode (proxy.go) it runs beside the segment's own DHCP server and
// hands out no addresses and keeps no leases: PXE, iPXE and UEFI HTTP boot
// clients get a proxy offer (yiaddr 0.0.0.0, option 60 PXEClient, option 43
// PXE_DISCOVERY_CONTROL, bootfile by the same policy) on the DHCP port, and
// a DHCPACK to their boot server request on the PXE port (ServePXE, 4011).
//
// A REQUEST binds only what the protocol led to (handle.go, RFC 2131
// §4.3.2): in SELECTING an address offered to that client (or its
// reservation), otherwise a lease the server holds for it, so REQUESTs
// sent without a DISCOVER cannot take addresses.
//
// Several servers can share one pool (share.go): with lease_store type
// postgres, leases live in a PostgreSQL database (pgstore.go) whose
// primary key on the address and conditional upserts decide who holds an
// address, so no address is ever ACKed to two clients. Heartbeat rows say
// which servers are alive; a client is answered by the server holding its
// lease while that one is alive, else by the alive server its key hashes
// to, and each server allocates first from its own slice of each range.
// When the database is unreachable no lease is granted or renewed.
//
// Safety (safety.go): token-bucket rate limits per client and globally
// (limit.go), a cap on the share of each range that offers may hold so a
// DISCOVER flood from random MACs cannot starve the pool (offercap.go),
// known_clients_only, and detection of other DHCP servers on the segment
// from REQUESTs, a passive client-port listener and an optional probe
// (rogue.go).
//
// The DHCPv6 server (Server6, the v6*.go files) sits beside it and shares
// the lease store (IPv6 records keyed by DUID and IAID), the boot policy
// (package boot: option 59 is the boot file URL, RFC 5970) and the rate
// limiter: SOLICIT/ADVERTISE/REQUEST/REPLY with optional rapid commit,
// RENEW, REBIND, RELEASE, DECLINE, CONFIRM and INFORMATION-REQUEST, IA_NA
// addresses from pools and reservations by DUID or MAC, relays (the pool
// by the relay's link-address, the interface-id echoed), and optional
// router advertisements (v6ra.go) for links without a router. There is no
// DHCPv6 proxy mode: no standard defines one.
//
// The caller owns the socket: Server.Serve(ctx, conn) reads requests from
// conn and writes replies to it, so tests can use 127.0.0.1:0 and production
// can bind port 67 to one interface (SO_BINDTODEVICE).
package dhcp
