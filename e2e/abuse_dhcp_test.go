package e2e

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestDHCPAbuseRequestsWithoutDiscover sends, from many random MACs,
// REQUESTs that skip DISCOVER: SELECTING ones naming bootsrv's server id
// (direct, and relayed with giaddr as perfdhcp sends them) and RENEWING
// ones with ciaddr, each for an address of the range never offered to that
// MAC. Every one must be NAKed (bootsrv is authoritative) and none may
// bind: the live lease list and the lease file stay empty, and a real
// udhcpc then gets the first address of the range as usual.
func TestDHCPAbuseRequestsWithoutDiscover(t *testing.T) {
	requireTool(t, "busybox")
	requireTool(t, "curl")
	n := startDHCPNet(t, "1h", "")
	mustRun(t, "ip", "-n", n.cli, "addr", "add", "10.77.0.2/24", "dev", "c0")
	direct := listenUDPInNetns(t, n.cli, "0.0.0.0:68")  // NAKs are broadcast to port 68
	relay := listenUDPInNetns(t, n.cli, "10.77.0.2:67") // relayed replies go to giaddr:67
	server := &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: 67}
	sid := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server.IP))

	kinds := []struct {
		name string
		conn net.PacketConn
		mods func(ip net.IP) []dhcpv4.Modifier
	}{
		{"selecting", direct, func(ip net.IP) []dhcpv4.Modifier {
			return []dhcpv4.Modifier{sid, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))}
		}},
		{"selecting relayed", relay, func(ip net.IP) []dhcpv4.Modifier {
			return []dhcpv4.Modifier{sid, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)), dhcpv4.WithRelay(net.IPv4(10, 77, 0, 2))}
		}},
		{"renewing", direct, func(ip net.IP) []dhcpv4.Modifier { return []dhcpv4.Modifier{dhcpv4.WithClientIP(ip)} }},
	}
	const macs = 100
	sent := 0
	for i := range macs {
		hw := make(net.HardwareAddr, 6)
		rand.Read(hw)
		hw[0] = hw[0]&^1 | 2
		ip := net.IPv4(10, 77, 0, byte(100+i))
		for _, k := range kinds {
			m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest)}, k.mods(ip)...)...)
			if err != nil {
				t.Fatal(err)
			}
			r := exchangeOnce(t, k.conn, server, m)
			if r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
				t.Fatalf("%s REQUEST from %s for %s: got %v\n%s", k.name, hw, ip, r, n.proc.Logs())
			}
			sent++
		}
	}
	if v := n.metric(t, `bootsrv_dhcp_replies_total{type="nak"}`); v != float64(sent) {
		t.Errorf("replies_total{nak} = %v, want %d", v, sent)
	}
	if v := n.metric(t, `bootsrv_dhcp_replies_total{type="ack"}`); v != 0 {
		t.Errorf("replies_total{ack} = %v after the flood", v)
	}
	if live := liveLeases(t, n); len(live) != 0 {
		t.Fatalf("GET /dhcp/leases after the flood: %+v", live)
	}
	if v := n.metric(t, `bootsrv_dhcp_leases_in_use{pool="10.77.0.0/24"}`); v != 0 {
		t.Errorf("leases_in_use = %v", v)
	}

	// A real client still gets the first address, which the flood asked for.
	direct.Close()
	relay.Close()
	script, env := udhcpcScript(t)
	if out, err := n.inCli(t, 30*time.Second, "busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script); err != nil {
		t.Fatalf("udhcpc after the flood: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	if b, _ := os.ReadFile(env); !strings.Contains(string(b), "ip=10.77.0.100\n") {
		t.Fatalf("udhcpc env:\n%s", b)
	}
	mac := ifaceMAC(t, n.cli, "c0")
	rows := n.leases(t)
	if len(rows) != 1 || rows[0].IP != "10.77.0.100" || rows[0].MAC != mac {
		t.Fatalf("lease file: %+v (udhcpc is %s)", rows, mac)
	}
	t.Logf("%d REQUESTs without DISCOVER from %d MACs, all NAKed; lease file: %s -> %s", sent, macs, rows[0].MAC, rows[0].IP)
}

// exchangeOnce sends m to server from conn and returns the reply with m's
// xid, or nil after 5 s.
func exchangeOnce(t *testing.T, conn net.PacketConn, server net.Addr, m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	if _, err := conn.WriteTo(m.ToBytes(), server); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return nil
		}
		if r, err := dhcpv4.FromBytes(buf[:n]); err == nil && r.TransactionID == m.TransactionID && r.OpCode == dhcpv4.OpcodeBootReply {
			return r
		}
	}
}

// liveLeases is GET /dhcp/leases of the running bootsrv.
func liveLeases(t *testing.T, n *dhcpNet) []json.RawMessage {
	t.Helper()
	argv := inNetns(n.srv, "curl", "-fsS", "http://"+n.proc.Addr("http")+"/dhcp/leases")
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("GET /dhcp/leases: %v", err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("GET /dhcp/leases: %v: %s", err, out)
	}
	return list
}
