package dhcp

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var errDiskFull = errors.New("disk full")

func TestBoltStoreLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leases.db")
	st, err := openBoltStore(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	_, err = openBoltStore(path, 200*time.Millisecond, nil)
	if !errors.Is(err, ErrLeaseFileLocked) {
		t.Fatalf("second open: %v", err)
	}
	if _, err := ReadLeases(path); !errors.Is(err, ErrLeaseFileLocked) {
		t.Fatalf("read-only open while locked: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("locked open took too long")
	}
}

func TestBoltStoreCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"garbage": []byte("this is not a bbolt file at all, but it is long enough to be read as one................"),
		"zeros":   make([]byte, 64*1024),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := openBoltStore(path, time.Second, nil)
		if !errors.Is(err, ErrLeaseFileCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
		// Never a silent wipe: the file is untouched.
		if b, _ := os.ReadFile(path); string(b) != string(content) {
			t.Errorf("%s: file changed", name)
		}
	}
	// A valid file with a damaged page in the middle.
	path := filepath.Join(dir, "damaged")
	st, err := openBoltStore(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		st.Commit(bg, storeNow, Change{Lease: Lease{IP: addr(0x0a000000 + uint32(i)), Hostname: "hostname-padding-padding", Expiry: time.Now()}})
	}
	st.Close()
	b, _ := os.ReadFile(path)
	for i := 4096 * 2; i < len(b); i++ {
		b[i] = 0xA5
	}
	os.WriteFile(path, b, 0o600)
	if _, err := openBoltStore(path, time.Second, nil); !errors.Is(err, ErrLeaseFileCorrupt) {
		t.Errorf("damaged pages: %v", err)
	}
}

func TestBoltStoreCommitFailure(t *testing.T) {
	st, err := openBoltStore(filepath.Join(t.TempDir(), "l.db"), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.failCommit = func() error { return errDiskFull }
	if err := st.Commit(bg, storeNow, Change{Lease: Lease{IP: netip.MustParseAddr("10.0.0.1")}}); !errors.Is(err, errDiskFull) {
		t.Fatalf("put: %v", err)
	}
}
