// Package listener hardens the TCP listeners of bootsrv's services
// against clients that exhaust resources.
//
// Retry wraps a listener so that Accept never returns a transient error
// (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED...): it waits with a
// backoff, as net/http's Server does, and tries again, so that running out
// of file descriptors slows a service down instead of stopping it. Only a
// closed listener ends the loop.
//
// Limit caps the connections a listener hands out, in total and per client
// address, so that one address cannot take every slot; connections over a
// cap are refused (a service may write a short reply first) and closed.
package listener
