//go:build linux

// Package netnstest runs a test in a network namespace of its own, where
// it may add links and addresses (veth pairs, IPv6 link-local addresses)
// without touching the machine's: the test binary runs again, only that
// test, in a child process created with CLONE_NEWNET. The namespace ends
// with the child, so a killed test leaves nothing behind.
//
//	func TestX(t *testing.T) {
//		if !netnstest.Enter(t) {
//			return // the child ran it
//		}
//		netnstest.IP(t, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
//		...
//	}
package netnstest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

const env = "BOOTSRV_TEST_NETNS"

// Enter reports whether the calling test runs in its own network
// namespace, with lo up; if not, it runs the test there in a child
// process, fails t when the child fails, and returns false. Without root
// or ip(8) the test is skipped.
func Enter(t *testing.T) bool {
	t.Helper()
	if os.Getenv(env) == t.Name() {
		IP(t, "link", "set", "lo", "up")
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a new network namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the test did not pass in its network namespace:\n%s", out)
	}
	return false
}

// IP runs ip(8) with args, failing t on an error.
func IP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Veth adds a veth pair a-b with the link-local address fe80::<ha>/64 on
// a and fe80::<hb>/64 on b, no others, usable at once (nodad), both up.
func Veth(t testing.TB, a, ha, b, hb string) {
	t.Helper()
	IP(t, "link", "add", a, "type", "veth", "peer", "name", b)
	for _, e := range [][2]string{{a, ha}, {b, hb}} {
		IP(t, "link", "set", e[0], "addrgenmode", "none")
		IP(t, "addr", "add", "fe80::"+e[1]+"/64", "dev", e[0], "nodad")
		IP(t, "link", "set", e[0], "up")
	}
}
