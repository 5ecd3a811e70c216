package netboot

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tftplib "github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bootsrv/bootsrv/images"
	"github.com/bootsrv/bootsrv/scripts"
	"github.com/bootsrv/bootsrv/tftp"
)

// TestScriptOverTFTP serves the renderer through the TFTP handler on a
// real TFTP server and fetches the script with pin/tftp's client: the TFTP
// server's metrics count it, and tsize is the rendered length.
func TestScriptOverTFTP(t *testing.T) {
	store, err := images.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg := prometheus.NewRegistry()
	layer, err := New(Config{Scripts: scripts.Config{
		Scripts:  []scripts.Script{{Name: "boot.ipxe", Template: "#!ipxe\necho {{.Protocol}} from {{.IP}} to {{.ServerIP}} base {{.HTTPBase}} known {{.Known}}\n"}},
		HTTPAddr: ":8080",
	}}, store, nil, nil, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tftp.New(tftp.Config{Timeout: 200 * time.Millisecond, Retries: 2},
		layer.TFTP(), zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		srv.Shutdown(sctx)
		conn.Close()
	})

	c, err := tftplib.NewClient(conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	c.SetBlockSize(1432) // as iPXE asks
	c.RequestTSize(true)
	wt, err := c.Receive("boot.ipxe", "octet")
	if err != nil {
		t.Fatal(err)
	}
	size, sizeOK := wt.(tftplib.IncomingTransfer).Size() // read before WriteTo
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	want := "#!ipxe\necho tftp from 127.0.0.1 to 127.0.0.1 base http://127.0.0.1:8080 known false\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	if !sizeOK || size != int64(len(want)) {
		t.Errorf("tsize %d %v, want %d", size, sizeOK, len(want))
	}
	if _, err := c.Receive("other.ipxe", "octet"); err == nil {
		t.Error("a name that is neither script nor file was served")
	}
	if got := value(t, reg, "bootsrv_scripts_renders_total", "protocol", "tftp", "result", "ok"); got != 1 {
		t.Errorf("renders = %v, want 1", got)
	}
	// The server counts a transfer just after the client has its last
	// packet.
	deadline := time.Now().Add(5 * time.Second)
	for value(t, reg, "bootsrv_tftp_transfers_total", "direction", "download", "result", "ok") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the script transfer was not counted in bootsrv_tftp_transfers_total")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// value is a counter's value in reg, by name and label pairs.
func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestTFTPUploads: a write lands in the upload folder, byte-exact, never
// over an existing file, and the upload area is not readable back over
// TFTP.
func TestTFTPUploads(t *testing.T) {
	dir := t.TempDir()
	store, err := images.Open(dir, images.Options{Uploads: "incoming"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.MkdirAll("incoming"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	layer, err := New(Config{Uploads: "incoming"}, store, nil, nil, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tftp.New(tftp.Config{AllowWrite: true, Timeout: 200 * time.Millisecond, Retries: 2},
		layer.TFTP(), zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		srv.Shutdown(sctx)
		conn.Close()
	})
	c, err := tftplib.NewClient(conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	send := func(name, data string) error {
		rf, err := c.Send(name, "octet")
		if err != nil {
			return err
		}
		_, err = rf.ReadFrom(bytes.NewReader([]byte(data)))
		return err
	}
	if err := send("sw1-confg", "hostname sw1\n"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "incoming", "sw1-confg"))
	if err != nil || string(got) != "hostname sw1\n" {
		t.Fatalf("upload stored %q, %v", got, err)
	}
	// An image larger than the store's write-behind window (8 MiB) lands
	// byte-exact.
	big := make([]byte, 20<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>12)
	}
	c.SetBlockSize(65464)
	if err := send("fw.bin", string(big)); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "incoming", "fw.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("20 MiB upload stored %d bytes (%v), not what was sent", len(got), err)
	}
	for name, want := range map[string]string{
		"sw1-confg":        "file already exists",
		"../escape":        "access violation",
		"no/such/folder/x": "file not found",
		"/":                "access violation",
	} {
		if err := send(name, "x"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("upload %q: %v, want %q", name, err, want)
		}
	}
	if _, err := c.Receive("incoming/sw1-confg", "octet"); err == nil || !strings.Contains(err.Error(), "file not found") {
		t.Errorf("the upload area read back over TFTP: %v", err)
	}
}
