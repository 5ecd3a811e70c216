package tftp

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/bootsrv/bootsrv/internal/netnstest"
)

// TestParseDstInfoIPv6: IPV6_PKTINFO gives the address a request came to;
// a link-local one gets the zone of the interface it came in on, which
// binding the transfer socket needs.
func TestParseDstInfoIPv6(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo: %v", err)
	}
	tests := map[string]struct {
		dst     string
		ifindex int
		want    string
	}{
		"global":              {"2001:db8::1", lo.Index, "2001:db8::1"},
		"link-local":          {"fe80::1", lo.Index, "fe80::1%lo"},
		"link-local, no name": {"fe80::1", 1 << 30, "fe80::1%1073741824"},
		"IPv4-mapped":         {"::ffff:192.0.2.1", lo.Index, "192.0.2.1"},
		"multicast":           {"ff02::1", lo.Index, "invalid IP"},
	}
	for name, tc := range tests {
		got, ifindex := parseDstInfo(pktinfo6(netip.MustParseAddr(tc.dst), tc.ifindex))
		if got.String() != tc.want || ifindex != tc.ifindex {
			t.Errorf("%s: parseDstInfo = %v, %d; want %s, %d", name, got, ifindex, tc.want, tc.ifindex)
		}
	}
}

// pktinfo6 is the IPV6_PKTINFO control message of a datagram sent to dst
// that came in on interface ifindex.
func pktinfo6(dst netip.Addr, ifindex int) []byte {
	b := make([]byte, syscall.CmsgSpace(syscall.SizeofInet6Pktinfo))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = syscall.IPPROTO_IPV6, syscall.IPV6_PKTINFO
	h.SetLen(syscall.CmsgLen(syscall.SizeofInet6Pktinfo))
	pi := (*syscall.Inet6Pktinfo)(unsafe.Pointer(&b[syscall.CmsgLen(0)]))
	pi.Addr, pi.Ifindex = dst.As16(), uint32(ifindex)
	return b
}

// TestLinkLocal runs in a network namespace of its own with two links,
// v0-v1 and w0-w1, whose ends have the same link-local addresses: the
// server fe80::1 on v0 and w0, the client fe80::2 on v1 and w1. A
// request over either link is answered over that link, from fe80::1 with
// that link's zone, and logged with it.
func TestLinkLocal(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	netnstest.Veth(t, "v0", "1", "v1", "2")
	netnstest.Veth(t, "w0", "1", "w1", "2")
	data := randBytes(20_000)
	ts := newTestServerOn(t, "[::]:0", fastConfig(), map[string][]byte{"f": data})
	_, port, _ := net.SplitHostPort(ts.addr)
	for _, link := range []string{"v", "w"} {
		t.Run(link, func(t *testing.T) {
			r := newRawFrom(t, "[fe80::1%"+link+"1]:"+port, "fe80::2%"+link+"1")
			got, oack := rawGet(t, r, request(opRRQ, "f", "octet", "blksize", "1468"), 512)
			if !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes", len(got))
			}
			if want := "fe80::1%" + link + "1"; r.last.IP.String()+"%"+r.last.Zone != want {
				t.Errorf("answered from %v, want %s", r.last, want)
			}
			// The veth MTU of 1500 less the IPv6, UDP and TFTP headers.
			if b := oackOptions(oack)["blksize"]; b != "1448" {
				t.Errorf("blksize %s, want 1448", b)
			}
			eventually(t, "the transfer's log line", func() bool {
				return strings.Contains(ts.logs.String(), `"peer":"[fe80::2%`+link+`0]:`)
			})
		})
	}
	if strings.Contains(ts.logs.String(), "refused") {
		t.Errorf("a request was refused:\n%s", ts.logs.String())
	}
}

// TestLinkLocalListener: a listener bound to a link-local address with its
// zone opens its transfer sockets there too.
func TestLinkLocalListener(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	netnstest.Veth(t, "v0", "1", "v1", "2")
	ts := newTestServerOn(t, "[fe80::1%v0]:0", fastConfig(), map[string][]byte{"f": []byte("hello")})
	_, port, _ := net.SplitHostPort(ts.addr)
	r := newRawFrom(t, "[fe80::1%v1]:"+port, "fe80::2%v1")
	if got, _ := rawGet(t, r, request(opRRQ, "f", "octet"), 512); string(got) != "hello" {
		t.Fatalf("got %q", got)
	}
	if from, _ := netip.AddrFromSlice(r.last.IP); from != netip.MustParseAddr("fe80::1") {
		t.Errorf("answered from %v", r.last)
	}
}
