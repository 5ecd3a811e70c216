// Command benchrun measures bootsrv against its peer servers on the same
// work, in the same run, and prints a table of medians and ratios plus a
// JSON file. bench/run builds and runs it; see the README's Benchmarks
// section for the rows and how to read them.
//
// Every server runs in a private network namespace that benchrun creates
// (TFTP and FTP on its loopback; DHCP over a veth pair to a second
// namespace where perfdhcp runs), is driven by the same real clients (curl,
// atftp, perfdhcp), and is stopped, with the namespaces deleted, on exit
// and on SIGINT/SIGTERM.
//
// Peers: tftpd-hpa, dnsmasq and atftpd (unpacked from its .deb, since it
// conflicts with the atftp client package) for TFTP; vsftpd for FTP;
// kea-dhcp4 with a memfile lease database for DHCP, kea-dhcp6 likewise
// for DHCPv6.
package main
