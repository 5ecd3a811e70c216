package ftp

// TYPE A (RFC 959 §3.1.1.1) is converted here, in the driver's transfer
// handles, rather than by the library: the library's converter wraps the
// data connection in a reader of its own, which hides the connection's
// deadlines, so an ASCII transfer whose client stalled hung forever (and
// an upload kept its resume lock). Converting in WriteTo/ReadFrom keeps the
// data_timeout refresh of binary transfers. The conversion is the
// library's: on the wire every line ends in CRLF, on disk in LF.

// toCRLF appends src to dst with every LF that does not follow a CR turned
// into CRLF, so a file that already has CRLF line ends goes out unchanged.
// *cr carries whether the previous chunk ended in CR.
func toCRLF(dst, src []byte, cr *bool) []byte {
	for _, b := range src {
		if b == '\n' && !*cr {
			dst = append(dst, '\r')
		}
		dst = append(dst, b)
		*cr = b == '\r'
	}
	return dst
}

// fromCRLF appends src to dst with every CRLF turned into LF; a CR that no
// LF follows is kept. A CR at the end of src is held back in *cr until the
// next chunk shows what follows it; at the end of the data, a held CR is
// the caller's to write.
func fromCRLF(dst, src []byte, cr *bool) []byte {
	for _, b := range src {
		if *cr {
			*cr = false
			if b != '\n' {
				dst = append(dst, '\r')
			}
		}
		if b == '\r' {
			*cr = true
			continue
		}
		dst = append(dst, b)
	}
	return dst
}
