// Package scripts renders per-machine boot scripts (usually iPXE scripts)
// from Go text/template templates, so one bootsrv does what matchbox or
// smee do next to a DHCP and TFTP server: every machine that asks for
// boot.ipxe gets a script written for it, by MAC address, architecture,
// host name and the fields of its DHCP reservation.
//
// A script has a name, which is what clients ask for: over TFTP as that
// file name and over HTTP under http.images_path (/images/<name> by
// default; templates find that place in .ImagesURL). A script shadows an image
// store file of the same name. The machine asking is found, in this
// order, from the HTTP query (?mac=${net0/mac}, which iPXE expands), from
// the DHCP lease held by the peer's address, and from the kernel's
// neighbour table (/proc/self/net/arp) for a peer on the same link, so scripts
// also work next to another DHCP server. A machine that cannot be
// identified, or has no reservation, still gets the script, rendered with
// .Known false: the template decides what such machines boot.
//
// Templates are checked when the config is loaded: parsed, and executed
// (with missingkey=error) for every reservation and for an unknown machine
// on each architecture, so a misspelt field or a variable one host lacks
// is a config error naming the template line, never a broken boot.
//
// The package does not import the DHCP or TFTP packages: cmd/bootsrv
// hands it the reservations (Config.Hosts) and a lease lookup
// (Config.Leases), and mounts its HTTP handler and TFTP hook.
package scripts
