package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// dhcpCapture records the DHCP packets on one interface of a namespace
// with tcpdump, into a pcap file the test reads once it stops.
type dhcpCapture struct {
	cmd  *exec.Cmd
	file string
	once sync.Once
}

func captureDHCP(t *testing.T, ns, iface string) *dhcpCapture {
	t.Helper()
	requireTool(t, "tcpdump")
	c := &dhcpCapture{file: filepath.Join(t.TempDir(), "dhcp.pcap")}
	argv := inNetns(ns, "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-s", "0", "-w", c.file, "udp port 67 or udp port 68")
	c.cmd = exec.Command(argv[0], argv[1:]...)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stop() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signal := sync.OnceFunc(func() { close(ready) })
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				signal()
			}
		}
		signal()
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("tcpdump did not start")
	}
	return c
}

func (c *dhcpCapture) stop() {
	c.once.Do(func() {
		c.cmd.Process.Signal(syscall.SIGINT)
		c.cmd.Wait()
	})
}

// packets stops the capture and returns the DHCP messages it saw, in
// order.
func (c *dhcpCapture) packets(t *testing.T) []*dhcpv4.DHCPv4 {
	t.Helper()
	c.stop()
	data, err := os.ReadFile(c.file)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := parsePcapDHCP(data)
	if err != nil {
		t.Fatalf("reading the capture: %v", err)
	}
	return msgs
}

// parsePcapDHCP reads a classic pcap file of Ethernet frames (tcpdump -w)
// and returns the DHCPv4 payloads of its IPv4 UDP packets.
func parsePcapDHCP(data []byte) ([]*dhcpv4.DHCPv4, error) {
	if len(data) < 24 {
		return nil, errors.New("no pcap header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, errors.New("not a pcap file")
	}
	if lt := bo.Uint32(data[20:]); lt != 1 {
		return nil, fmt.Errorf("link type %d, want Ethernet", lt)
	}
	var out []*dhcpv4.DHCPv4
	for rest := data[24:]; len(rest) >= 16; {
		n := int(bo.Uint32(rest[8:]))
		if len(rest) < 16+n {
			break
		}
		frame := rest[16 : 16+n]
		rest = rest[16+n:]
		if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			continue
		}
		ip := frame[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+8 {
			continue
		}
		m, err := dhcpv4.FromBytes(ip[ihl+8:])
		if err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}
