package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/internal/inflight"
)

// TestInFlight: a GET of the store is listed while its body goes out, with
// the bytes sent so far and the Content-Length, and leaves the list when
// it ends; a store file sent with sendfile is counted too.
func TestInFlight(t *testing.T) {
	reg := inflight.New(0, 0)
	release := make(chan struct{})
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimLeft(r.URL.Path, "/") != "slow" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "0123")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "456789")
	})
	addr, _ := newTestServer(t, Config{}, Routes{Files: files, Transfers: reg})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /images/slow HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := reg.Running()
	if len(st) != 1 || st[0].Service != "http" || st[0].File != "slow" || st[0].Bytes != 4 || st[0].Size != 10 || st[0].Upload {
		t.Errorf("while the body goes out: %+v", st)
	}
	close(release)
	if b, err := io.ReadAll(io.LimitReader(resp.Body, 10)); err != nil || string(b) != "0123456789" {
		t.Fatalf("body %q, %v", b, err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(reg.Running()) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still running: %+v", reg.Running())
		}
	}
}

// TestFileBodyCounted: a store file's body (sendfile, in chunks) reaches
// the client whole through the progress-counting writer.
func TestFileBodyCounted(t *testing.T) {
	dir := t.TempDir()
	data := strings.Repeat("0123456789abcdef", (3*stallChunk+100)/16)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := images.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	addr, _ := newTestServer(t, Config{}, Routes{Files: store.Handler(), Transfers: inflight.New(0, 0)})
	resp, err := http.Get("http://" + addr + "/images/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != data {
		t.Fatalf("got %d bytes (%v), want %d", len(b), err, len(data))
	}
}
