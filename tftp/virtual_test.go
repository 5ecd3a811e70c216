package tftp

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestVirtualFiles(t *testing.T) {
	ts := newTestServer(t, fastConfig(), map[string][]byte{"boot.ipxe": []byte("from the store"), "other": []byte("other")})
	var mu sync.Mutex
	var calls []string
	ts.SetVirtual(func(name string, local, remote netip.Addr) ([]byte, bool, error) {
		mu.Lock()
		calls = append(calls, name+" "+local.String()+" "+remote.String())
		mu.Unlock()
		switch name {
		case "boot.ipxe", "/boot.ipxe":
			return []byte("#!ipxe\necho for " + remote.String() + "\n"), true, nil
		case "broken":
			return nil, false, errors.New("template exploded")
		}
		return nil, false, nil
	})
	tests := map[string]struct {
		file    string
		want    string
		wantErr string
	}{
		"virtual shadows the store": {file: "boot.ipxe", want: "#!ipxe\necho for 127.0.0.1\n"},
		"leading slash reaches fn":  {file: "/boot.ipxe", want: "#!ipxe\necho for 127.0.0.1\n"},
		"not virtual: the store":    {file: "other", want: "other"},
		"error is an i/o error":     {file: "broken", wantErr: "i/o error"},
		"missing everywhere":        {file: "nothing", wantErr: "file not found"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, size, err := get(ts.addr, tc.file, "octet", 1468, true)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, []byte(tc.want)) || size != int64(len(tc.want)) {
				t.Fatalf("got %q (tsize %d), want %q (tsize %d)", got, size, tc.want, len(tc.want))
			}
		})
	}
	mu.Lock()
	if !slices.Contains(calls, "boot.ipxe 127.0.0.1 127.0.0.1") {
		t.Errorf("calls %q: want name, local and remote address", calls)
	}
	mu.Unlock()
	eventually(t, "transfers counted", func() bool {
		return ts.metric(t, "bootsrv_tftp_transfers_total", "direction", "download", "result", "ok") == 3 &&
			ts.metric(t, "bootsrv_tftp_refusals_total", "reason", "io_error") == 1
	})

	ts.SetVirtual(nil)
	got, _, err := get(ts.addr, "boot.ipxe", "octet", 0, false)
	if err != nil || string(got) != "from the store" {
		t.Fatalf("after SetVirtual(nil): %q %v", got, err)
	}
}
