package ftp

import (
	"time"

	"golang.org/x/sys/unix"
)

// waitHangup waits up to d for the peer of TCP socket fd to close or reset
// the connection and reports whether it has. It asks the kernel (poll(2):
// POLLRDHUP once a FIN has arrived, POLLHUP or POLLERR after a reset),
// which reads nothing from the socket, so the session's buffered reader is
// not disturbed, and it sees a FIN the reader has already consumed too.
// Data the client sent does not end the wait: only a hang-up does.
func waitHangup(fd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		ms := max(0, int((time.Until(deadline)+time.Millisecond-1)/time.Millisecond))
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(fds, ms)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return true // cannot tell: do not commit
		case n == 0:
			return false
		}
		return fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
	}
}

// smoothedRTT is the kernel's round-trip time estimate for TCP socket fd
// (TCP_INFO), or 0 if unknown.
func smoothedRTT(fd int) time.Duration {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0
	}
	return time.Duration(info.Rtt) * time.Microsecond
}
