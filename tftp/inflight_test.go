package tftp

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/bootsrv/bootsrv/internal/inflight"
)

// TestInFlight: a read is listed while it runs, with the blocks sent so
// far and the file's size, and leaves the list when it ends; a stored
// upload is remembered under its store name with the peer that sent it.
func TestInFlight(t *testing.T) {
	reg := inflight.New(0, 0)
	cfg := fastConfig()
	cfg.Transfers, cfg.AllowWrite = reg, true
	ts := newTestServer(t, cfg, map[string][]byte{"a.bin": make([]byte, 1300)})

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, _ := net.ResolveUDPAddr("udp", ts.addr)
	c.WriteTo(append([]byte{0, opRRQ}, "/a.bin\x00octet\x00"...), srv)
	buf := make([]byte, 600)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFrom(buf)
	if err != nil || n != 4+512 {
		t.Fatalf("block 1: %d bytes, %v", n, err)
	}
	var st []inflight.Status
	eventually(t, "block 1 counted", func() bool {
		st = reg.Running()
		return len(st) == 1 && st[0].Bytes == 512
	})
	if s := st[0]; s.Service != "tftp" || s.File != "a.bin" || s.Size != 1300 || s.Upload || s.Peer != c.LocalAddr().String() {
		t.Errorf("running: %+v", s)
	}
	for blk := uint16(1); blk <= 3; blk++ {
		ack := []byte{0, opACK, 0, 0}
		binary.BigEndian.PutUint16(ack[2:], blk)
		c.WriteTo(ack, from)
		if blk < 3 {
			if _, _, err := c.ReadFrom(buf); err != nil {
				t.Fatalf("block %d: %v", blk+1, err)
			}
		}
	}
	eventually(t, "the read to end", func() bool { return len(reg.Running()) == 0 })

	if err := put(ts.addr, "sw1-confg", []byte("hostname sw1\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the upload remembered", func() bool {
		_, ok := reg.Uploader("incoming/sw1-confg")
		return ok
	})
	u, _ := reg.Uploader("incoming/sw1-confg")
	if u.Service != "tftp" || u.Bytes != 13 || u.User != "" || u.Peer == "" {
		t.Errorf("upload: %+v", u)
	}
}
