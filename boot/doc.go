// Package boot is the boot policy DHCPv4 and DHCPv6 share: what a
// network-booting machine is told to boot, and which zero-touch
// provisioning rule applies to a device. Both are pure functions over
// plain values (Decide, Match.Matches): no wire format, no socket, no
// address family. The DHCP servers translate a request into a Request or
// Facts and the Decision back into their own options (DHCPv4: siaddr,
// file, options 60, 66, 67, 43; DHCPv6: option 59 as a URL and option 16).
//
// The client architecture types are one IANA registry for both families
// (RFC 4578 §2.1 option 93, RFC 5970 §3.3 option 61), so one Arch
// mapping serves both.
package boot
