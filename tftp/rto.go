package tftp

import "time"

// rtoTimer is a transfer's retransmission timer. It starts at the
// configured timeout and, once the peer has answered, follows the measured
// round trip the way RFC 6298 sets TCP's: RTO = SRTT + 4·RTTVAR, clamped
// to [min, max], doubled on every timeout (§5.5). Samples come only from
// packets that were not retransmitted (Karn's rule, §3), so an answer to a
// resent block never shrinks the timer.
//
// On a LAN the round trip is well under a millisecond, so a lost block is
// resent after min (default 50ms) instead of the full timeout: at 1% loss a
// 4 MiB transfer with lock-step 1468-byte blocks loses about 57 packets,
// which cost seconds, not minutes.
//
// A client's timeout option (RFC 2349) becomes the timer's ceiling once
// the client has answered (see transfer.verify; until then the configured
// timeout holds, so a forged request cannot buy a 255s wait): the server
// never waits longer than agreed, and it resends sooner only when the
// measured round trip says the block is lost. That is a deliberate reading
// of the RFC, which names one fixed interval: curl asks for 6s, EDK2 for a
// few seconds, and a fixed 6s per lost packet turns a 1 MiB download at 1%
// loss into 80s. An early resend costs one duplicate block, which clients
// answer by acknowledging it again (and the server ignores duplicate ACKs).
type rtoTimer struct {
	rto, min, max time.Duration
	srtt, rttvar  time.Duration
	sampled       bool
}

func newRTOTimer(initial, floor time.Duration) rtoTimer {
	return rtoTimer{rto: initial, min: min(floor, initial), max: initial}
}

// ceiling makes d (the RFC 2349 timeout option) the longest wait. Without
// a round-trip sample yet, d is also the next wait.
func (r *rtoTimer) ceiling(d time.Duration) {
	r.max, r.min = d, min(r.min, d)
	r.rto = d
	if r.sampled {
		r.rto = min(max(r.srtt+4*r.rttvar, r.min), r.max)
	}
}

// sample feeds one measured round trip (RFC 6298 §2.2, §2.3).
func (r *rtoTimer) sample(d time.Duration) {
	if !r.sampled {
		r.srtt, r.rttvar, r.sampled = d, d/2, true
	} else {
		diff := r.srtt - d
		if diff < 0 {
			diff = -diff
		}
		r.rttvar = (3*r.rttvar + diff) / 4
		r.srtt = (7*r.srtt + d) / 8
	}
	r.rto = min(max(r.srtt+4*r.rttvar, r.min), r.max)
}

// expired doubles the timer after a timeout (RFC 6298 §5.5) and reports
// whether the wait that just ran out was the longest (the timeout, or the
// client's timeout option). Only those count
// against the retries, so a peer gets as long as before to come back; the
// short waits in front of them are free.
func (r *rtoTimer) expired() (full bool) {
	full = r.rto >= r.max
	r.rto = min(2*r.rto, r.max)
	return full
}
