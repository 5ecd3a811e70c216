// Package netboot is the layer that combines bootsrv's services, in the
// shape of pixiecore: the protocol packages (tftp, ftp, dhcp, web) never
// import each other, and what spans them lives here. It answers "what does
// machine X get": it hands each protocol what it serves through the
// protocol's own small interface (a tftp.Handler that renders a boot
// script for the machine that asks, else opens a file of the image store;
// the HTTP handler for the store), and it maps store errors to each
// protocol's errors in one place.
package netboot
