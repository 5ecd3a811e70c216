package tftp

import (
	"strconv"
	"time"
)

// Option limits from the RFCs.
const (
	defaultBlockSize = 512   // RFC 1350
	minBlockSize     = 8     // RFC 2348 section 3
	maxBlockSize     = 65464 // RFC 2348 section 3
	maxWindowSize    = 65535 // RFC 7440 section 3
	minTimeoutOption = 1     // RFC 2349 section 2, seconds
	maxTimeoutOption = 255

	// maxWindowBytes caps blksize x windowsize, the data a transfer keeps
	// in memory for retransmission: a 500-client boot storm asking for
	// large blocks and windows stays within tens of MB. Clients asking for
	// more get a smaller windowsize in the OACK (RFC 7440 section 4).
	maxWindowBytes = 128 << 10
)

// limits is what the server allows for one request.
type limits struct {
	maxBlock  int   // max_block_size, possibly lowered to the path MTU
	maxWindow int   // max_window_size
	maxUpload int64 // max_upload_size, -1 no cap (WRQ tsize check)
}

// params are the negotiated settings of one transfer.
type params struct {
	blksize int
	window  int
	timeout time.Duration // from the timeout option; 0: the server's own
	oack    []option      // acknowledged options, in request order; nil: no OACK
}

// negotiate answers a request's options (RFC 2347): blksize (RFC 2348),
// tsize and timeout (RFC 2349) and windowsize (RFC 7440). Unknown options
// and values outside the RFC ranges are ignored, not acknowledged, which RFC
// 2347 section 2 allows; the transfer then runs with the defaults. size is
// the RRQ's data size for tsize, or -1 when it is not known in advance
// (netascii, where the size on the wire differs from the file). A WRQ whose
// tsize exceeds the upload cap is refused with code 3 (RFC 2349 section 3).
func negotiate(req requestPacket, lim limits, size int64) (params, *refusal) {
	p := params{blksize: defaultBlockSize, window: 1}
	seen := map[string]bool{}
	for _, o := range req.options {
		if seen[o.name] {
			continue // the first of a repeated option counts
		}
		seen[o.name] = true
		v, err := strconv.ParseInt(o.value, 10, 64)
		if err != nil || v < 0 {
			continue
		}
		switch o.name {
		case "blksize":
			if v < minBlockSize {
				continue
			}
			p.blksize = int(min(v, int64(lim.maxBlock), maxBlockSize))
			p.oack = append(p.oack, option{o.name, strconv.Itoa(p.blksize)})
		case "windowsize":
			if v < 1 || v > maxWindowSize {
				continue
			}
			p.window = int(min(v, int64(lim.maxWindow)))
			p.oack = append(p.oack, option{o.name, ""}) // value set below, once blksize is known
		case "timeout":
			if v < minTimeoutOption || v > maxTimeoutOption {
				continue
			}
			p.timeout = time.Duration(v) * time.Second
			p.oack = append(p.oack, option{o.name, strconv.FormatInt(v, 10)})
		case "tsize":
			if req.op == opWRQ {
				if lim.maxUpload > 0 && v > lim.maxUpload {
					return p, refuse(ErrTooLarge)
				}
				p.oack = append(p.oack, option{o.name, strconv.FormatInt(v, 10)})
			} else if size >= 0 {
				p.oack = append(p.oack, option{o.name, strconv.FormatInt(size, 10)})
			}
		}
	}
	// The window is capped by memory after blksize is settled, whatever
	// the order the options came in.
	p.window = max(1, min(p.window, maxWindowBytes/p.blksize))
	for i := range p.oack {
		if p.oack[i].name == "windowsize" {
			p.oack[i].value = strconv.Itoa(p.window)
		}
	}
	return p, nil
}
