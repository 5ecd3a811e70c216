package dhcp

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errDiskFull = errors.New("disk full")

func TestLeaseStoreDurableAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "leases.db")
	st, leases, err := openLeaseStore(path, time.Second, nil)
	if err != nil || len(leases) != 0 {
		t.Fatal(err, leases)
	}
	want := Lease{IP: netip.MustParseAddr("10.0.0.9"), MAC: "52:54:00:00:00:09", ClientID: "ff01", Hostname: "h",
		Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := st.put(want); err != nil {
		t.Fatal(err)
	}
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLeases(path)
	if err != nil || len(got) != 1 || got[0] != want {
		t.Fatalf("read back %+v, %v", got, err)
	}
}

func TestLeaseStoreGroupCommit(t *testing.T) {
	var txs atomic.Int64
	path := filepath.Join(t.TempDir(), "leases.db")
	st, _, err := openLeaseStore(path, time.Second, func(time.Duration) { txs.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := addr(u32(netip.MustParseAddr("10.0.0.0")) + uint32(i))
			if err := st.put(Lease{IP: ip, Expiry: time.Now().Add(time.Hour)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st.close()
	if got := txs.Load(); got >= n/2 {
		t.Errorf("%d writers used %d transactions: no grouping", n, got)
	}
	t.Logf("%d leases in %d transactions", n, txs.Load())
	leases, err := ReadLeases(path)
	if err != nil || len(leases) != n {
		t.Fatalf("%d leases back, %v", len(leases), err)
	}
}

func TestLeaseStoreLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leases.db")
	st, _, err := openLeaseStore(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	start := time.Now()
	_, _, err = openLeaseStore(path, 200*time.Millisecond, nil)
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

func TestLeaseStoreCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"garbage": []byte("this is not a bbolt file at all, but it is long enough to be read as one................"),
		"zeros":   make([]byte, 64*1024),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := openLeaseStore(path, time.Second, nil)
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
	st, _, err := openLeaseStore(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		st.put(Lease{IP: addr(0x0a000000 + uint32(i)), Hostname: "hostname-padding-padding", Expiry: time.Now()})
	}
	st.close()
	b, _ := os.ReadFile(path)
	for i := 4096 * 2; i < len(b); i++ {
		b[i] = 0xA5
	}
	os.WriteFile(path, b, 0o600)
	if _, _, err := openLeaseStore(path, time.Second, nil); !errors.Is(err, ErrLeaseFileCorrupt) {
		t.Errorf("damaged pages: %v", err)
	}
}

func TestLeaseStoreCommitFailure(t *testing.T) {
	st, _, err := openLeaseStore(filepath.Join(t.TempDir(), "l.db"), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	st.failCommit = func() error { return errDiskFull }
	if err := st.put(Lease{IP: netip.MustParseAddr("10.0.0.1")}); !errors.Is(err, errDiskFull) {
		t.Fatalf("put: %v", err)
	}
}
