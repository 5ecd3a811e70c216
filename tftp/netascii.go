package tftp

import (
	"bufio"
	"io"
)

// netasciiReader encodes a file for netascii mode (RFC 1350 section 1, after
// RFC 764): LF goes out as CR LF and CR as CR NUL. The size on the wire is
// not known in advance, so netascii reads do not acknowledge tsize (as
// tftpd-hpa).
type netasciiReader struct {
	r       *bufio.Reader
	pending int // byte still owed after a CR, or -1
}

func newNetasciiReader(r io.Reader) *netasciiReader {
	return &netasciiReader{r: bufio.NewReaderSize(r, 32<<10), pending: -1}
}

func (n *netasciiReader) Read(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if n.pending >= 0 {
			p[i], n.pending = byte(n.pending), -1
			i++
			continue
		}
		b, err := n.r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				return i, nil
			}
			return i, err
		}
		switch b {
		case '\n':
			p[i], n.pending = '\r', '\n'
		case '\r':
			p[i], n.pending = '\r', 0
		default:
			p[i] = b
		}
		i++
	}
	return i, nil
}

// netasciiWriter decodes netascii uploads: CR LF becomes LF, CR NUL becomes
// CR. A CR followed by anything else is kept as it came (lenient, as most
// servers are with hand-made clients).
type netasciiWriter struct {
	w  *bufio.Writer
	cr bool // the last byte seen was a CR not yet written
}

func (n *netasciiWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if n.cr {
			n.cr = false
			switch b {
			case '\n':
				n.w.WriteByte('\n')
				continue
			case 0:
				n.w.WriteByte('\r')
				continue
			}
			n.w.WriteByte('\r')
		}
		if b == '\r' {
			n.cr = true
			continue
		}
		if err := n.w.WriteByte(b); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes a trailing lone CR and flushes the buffer.
func (n *netasciiWriter) Flush() error {
	if n.cr {
		n.cr = false
		n.w.WriteByte('\r')
	}
	return n.w.Flush()
}
