//go:build !linux

package ftp

import "time"

// waitHangup cannot ask the kernel without POLLRDHUP; only the session's
// own view (session.closed) tells a vanished client here.
func waitHangup(fd int, d time.Duration) bool { return false }

func smoothedRTT(fd int) time.Duration { return 0 }
