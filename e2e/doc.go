// Package e2e holds end-to-end tests that drive real third-party clients
// (curl, tftp-hpa, atftp, busybox, lftp, wget, dhclient, qemu PXE, ...)
// against the built bootsrv binary. A test whose client is missing skips,
// unless BOOTSRV_E2E=1, when a missing client fails it: CI sets that.
// It also tests what ships in deploy/: the Grafana dashboard and the
// Prometheus alert rules (with promtool), against a running bootsrv.
package e2e
