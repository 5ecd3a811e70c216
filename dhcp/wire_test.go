package dhcp

import (
	"bytes"
	"net"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// wireSeeds are the golden requests and the server's replies to them.
func wireSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.request.hex")
	ts := newTestServer(f, testConfig(f))
	for _, p := range files {
		req := readHex(f, p)
		f.Add(req)
		ts.handlePacket(ts.conn, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 99), Port: 68}, req)
	}
	for _, r := range ts.conn.sent {
		f.Add(r.msg.ToBytes())
	}
	long := discover("52:54:00:00:00:01", dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, bytes.Repeat([]byte{7}, 300))),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(224), nil)))
	f.Add(long.ToBytes())
	f.Add([]byte{})
	f.Add(make([]byte, optionsStart))
}

// FuzzDecodeInto: decodeInto accepts what dhcpv4.FromBytes accepts and
// decodes it to the same message, reusing one value as the server does.
func FuzzDecodeInto(f *testing.F) {
	wireSeeds(f)
	var d dhcpv4.DHCPv4
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := dhcpv4.FromBytes(b)
		err := decodeInto(&d, b)
		if (err != nil) != (werr != nil) {
			t.Fatalf("decodeInto error %v, FromBytes error %v", err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(&d, want) {
			t.Fatalf("decodeInto\n%v\nFromBytes\n%v", &d, want)
		}
	})
}

// FuzzAppendPacket: appendPacket writes the bytes ToBytes writes, for any
// message the decoder accepts, and appends without touching what dst held.
func FuzzAppendPacket(f *testing.F) {
	wireSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		want := d.ToBytes()
		got := appendPacket([]byte("prefix"), d)
		if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[6:], want) {
			t.Fatalf("appendPacket\n%x\nToBytes\n%x", got[6:], want)
		}
	})
}

// TestDecodeIntoDoesNotCopy: the decoded message points into the datagram
// (what makes it cheap, and why the server keeps a datagram's buffer until
// its request is answered), and a repeated option is joined into a fresh
// slice instead of being written over the datagram.
func TestDecodeIntoDoesNotCopy(t *testing.T) {
	// A DISCOVER with two hostname options: RFC 3396 concatenation.
	b := discover("52:54:00:00:00:02").ToBytes()[:optionsStart]
	b = append(b, 53, 1, 1, 12, 1, 'a', 12, 1, 'b', optEnd)
	var d dhcpv4.DHCPv4
	if err := decodeInto(&d, b); err != nil {
		t.Fatal(err)
	}
	if got := d.HostName(); got != "ab" {
		t.Fatalf("hostname %q, want the two options joined", got)
	}
	before := bytes.Clone(b)
	d.ClientHWAddr[5] = 9
	if b[28+5] != 9 {
		t.Error("chaddr was copied")
	}
	b[28+5] = before[28+5]
	_ = append(d.Options[12], 'c')
	if !bytes.Equal(b, before) {
		t.Error("appending to a joined option wrote over the datagram")
	}
	if err := decodeInto(&d, discover("52:54:00:00:00:03").ToBytes()); err != nil {
		t.Fatal(err)
	}
	if d.Options.Has(dhcpv4.OptionHostName) {
		t.Error("options of the previous message survived")
	}
}

// TestAppendPacketAddresses: an address field that is not IPv4 (ToBytes
// would panic) goes out as zeros; a 16-byte form of an IPv4 address as
// the address.
func TestAppendPacketAddresses(t *testing.T) {
	d := discover("52:54:00:00:00:04")
	d.ClientIPAddr = net.ParseIP("2001:db8::1")
	d.YourIPAddr = net.ParseIP("10.0.0.7") // 16 bytes
	d.ServerIPAddr = nil
	b := appendPacket(nil, d)
	if !bytes.Equal(b[12:16], []byte{0, 0, 0, 0}) || !bytes.Equal(b[16:20], []byte{10, 0, 0, 7}) || !bytes.Equal(b[20:24], []byte{0, 0, 0, 0}) {
		t.Fatalf("addresses %x", b[12:24])
	}
	if len(b) < bootpMinLen {
		t.Fatalf("%d bytes, want at least %d", len(b), bootpMinLen)
	}
}

// FuzzMsgType: msgType is MessageType.
func FuzzMsgType(f *testing.F) {
	wireSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		if got, want := msgType(d), d.MessageType(); got != want {
			t.Fatalf("msgType %v, MessageType %v", got, want)
		}
	})
}

// FuzzLogFields: the log's mac and xid read as the library prints them.
func FuzzLogFields(f *testing.F) {
	f.Add([]byte{0x52, 0x54, 0, 0xab, 0xcd, 0xef}, []byte{0xde, 0xad, 0xbe, 0xef})
	f.Add([]byte{}, []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, hw, xid []byte) {
		if got, want := string(appendMAC(nil, hw)), net.HardwareAddr(hw).String(); got != want {
			t.Fatalf("appendMAC %q, String %q", got, want)
		}
		var x dhcpv4.TransactionID
		copy(x[:], xid)
		if got, want := string(appendXID(nil, x)), x.String(); got != want {
			t.Fatalf("appendXID %q, String %q", got, want)
		}
	})
}
