package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
)

// Opcodes, RFC 1350 section 5 and RFC 2347 (OACK).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// Transfer modes, RFC 1350 section 1. "mail" is obsolete and refused.
const (
	modeOctet    = "octet"
	modeNetascii = "netascii"
)

// maxRequestOptions bounds the options read from one request; a request
// fits in 512 bytes (RFC 2347), so real clients send a handful.
const maxRequestOptions = 32

// option is one name/value pair of a request or OACK (RFC 2347). Names are
// case-insensitive on the wire and kept in lower case here.
type option struct{ name, value string }

// requestPacket is a parsed RRQ or WRQ.
type requestPacket struct {
	op      uint16
	file    string // as the client sent it
	mode    string // lower case
	options []option
}

var errMalformed = errors.New("malformed request")

// parseRequest decodes an RRQ or WRQ (RFC 1350 section 5, options per RFC
// 2347 section 2). The mode and option names are case-insensitive and
// returned in lower case. A last option without its value, or NUL padding
// after the options (some firmware pads requests), is ignored rather than
// refused; anything else that does not fit the format is errMalformed.
func parseRequest(p []byte) (requestPacket, error) {
	var req requestPacket
	if len(p) < 2 {
		return req, errMalformed
	}
	req.op = binary.BigEndian.Uint16(p)
	if req.op != opRRQ && req.op != opWRQ {
		return req, errMalformed
	}
	rest := p[2:]
	field := func() (string, bool) {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return "", false
		}
		s := string(rest[:i])
		rest = rest[i+1:]
		return s, true
	}
	var ok bool
	if req.file, ok = field(); !ok || req.file == "" {
		return req, errMalformed
	}
	if req.mode, ok = field(); !ok || req.mode == "" {
		return req, errMalformed
	}
	req.mode = strings.ToLower(req.mode)
	for len(rest) > 0 && len(req.options) < maxRequestOptions {
		name, ok := field()
		if !ok || name == "" {
			break // unterminated trailer or NUL padding
		}
		value, ok := field()
		if !ok {
			break // option without a value
		}
		req.options = append(req.options, option{strings.ToLower(name), value})
	}
	return req, nil
}

// appendError appends an ERROR packet: opcode 5, code, message, NUL (RFC
// 1350 section 5).
func appendError(b []byte, code uint16, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, opERROR)
	b = binary.BigEndian.AppendUint16(b, code)
	b = append(b, msg...)
	return append(b, 0)
}

// packError builds an ERROR packet.
func packError(code uint16, msg string) []byte {
	return appendError(make([]byte, 0, 5+len(msg)), code, msg)
}

// packOACK builds an OACK packet (RFC 2347 section 2).
func packOACK(opts []option) []byte {
	b := binary.BigEndian.AppendUint16(nil, opOACK)
	for _, o := range opts {
		b = append(append(b, o.name...), 0)
		b = append(append(b, o.value...), 0)
	}
	return b
}

// putACK writes an ACK for block into b[:4] and returns it.
func putACK(b []byte, block uint16) []byte {
	binary.BigEndian.PutUint16(b, opACK)
	binary.BigEndian.PutUint16(b[2:], block)
	return b[:4]
}
