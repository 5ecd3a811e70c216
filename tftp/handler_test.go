package tftp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// memHandler serves names from memory; it records the requests it saw.
type memHandler struct {
	files map[string]string
	sized bool // report sizes (tsize)

	mu   sync.Mutex
	seen []Request
}

func (h *memHandler) Open(req Request) (io.ReadCloser, int64, error) {
	h.mu.Lock()
	h.seen = append(h.seen, req)
	h.mu.Unlock()
	switch req.Name {
	case "broken":
		return nil, 0, errors.New("template exploded")
	case "secret":
		return nil, 0, fmt.Errorf("no: %w", ErrAccess)
	}
	data, ok := h.files[req.Name]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", req.Name, ErrNotFound)
	}
	size := int64(-1)
	if h.sized {
		size = int64(len(data))
	}
	return io.NopCloser(strings.NewReader(data)), size, nil
}

func (h *memHandler) CheckCreate(Request) error { return ErrAccess }

func (h *memHandler) Create(Request, int64) (Upload, error) { return nil, ErrAccess }

// TestHandler: the server serves what its handler opens, tells it who asks
// and where, maps the handler's errors to their codes, and acknowledges
// tsize only when the handler knows the size.
func TestHandler(t *testing.T) {
	for _, sized := range []bool{true, false} {
		t.Run(fmt.Sprintf("sized=%v", sized), func(t *testing.T) {
			h := &memHandler{files: map[string]string{"boot.ipxe": "#!ipxe\necho hi\n", "/abs": "absolute"}, sized: sized}
			ts := startTestServer(t, fastConfig(), h)
			tests := map[string]struct {
				file, want, wantErr string
			}{
				"served":           {file: "boot.ipxe", want: "#!ipxe\necho hi\n"},
				"name as sent":     {file: "/abs", want: "absolute"},
				"not found":        {file: "nothing", wantErr: "file not found"},
				"access":           {file: "secret", wantErr: "access violation"},
				"other error: i/o": {file: "broken", wantErr: "i/o error"},
			}
			for name, tc := range tests {
				got, size, err := get(ts.addr, tc.file, "octet", 1468, true)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("%s: err = %v, want %q", name, err, tc.wantErr)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, []byte(tc.want)) {
					t.Errorf("%s: got %q, %v", name, got, err)
				}
				if wantSize := int64(len(tc.want)); sized && size != wantSize || !sized && size > 0 {
					t.Errorf("%s: tsize %d (handler knows the size: %v)", name, size, sized)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.seen) == 0 || h.seen[0].Local.String() != "127.0.0.1" || h.seen[0].Remote.Addr().String() != "127.0.0.1" || h.seen[0].Remote.Port() == 0 {
				t.Errorf("requests seen %+v: want the local address and the client's address and port", h.seen)
			}
			if _, _, err := get(ts.addr, "x", "octet", 0, false); err == nil {
				t.Error("a missing file was served")
			}
			eventually(t, "refusals counted", func() bool {
				return ts.metric(t, "bootsrv_tftp_refusals_total", "reason", "io_error") == 1 &&
					ts.metric(t, "bootsrv_tftp_refusals_total", "reason", "access") == 1
			})
		})
	}
}
