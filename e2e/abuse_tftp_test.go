package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAbuseTFTPFlood floods bootsrv (default tftp settings) with read
// requests asking timeout=255 and the largest blocks and window, from
// thousands of source addresses and ports that never answer, as forged
// requests would, and shows that:
//   - curl, started once the flood has taken every slot, still gets a
//     byte-exact file;
//   - no flood request draws more than 1 + unverified_retries datagrams;
//   - bootsrv's memory stays bounded;
//   - every slot is free again within the unverified bound (2 x 2s) after
//     the flood stops, not after 255s.
//
// It runs twice: on the race build, like every e2e test, and on a plain
// build, whose memory is the one asserted: the race detector multiplies a
// Go program's memory several times (about 230 MB against 45 MB here).
//
// The sources are real: in the test's namespace every address of
// 10.99.0.0/16 is local (a "local" route on lo), so the flooder binds its
// sockets to them and bootsrv's replies come back to those sockets, where
// they are counted.
func TestAbuseTFTPFlood(t *testing.T) {
	requireRoot(t)
	requireTool(t, "curl")
	plain := filepath.Join(t.TempDir(), "bootsrv") // named so, for watchMemory
	if o, err := runTool(t, 5*time.Minute, "go", "build", "-o", plain, "../cmd/bootsrv"); err != nil {
		t.Fatalf("build without -race: %v\n%s", err, o)
	}
	tests := map[string]struct {
		bin     string
		maxHWM  int64 // kB; 0: logged only
		maxHeap float64
	}{
		"race build":  {bin: binPath},
		"plain build": {bin: plain, maxHWM: 200 << 10, maxHeap: 100 << 20},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			hwm, heap := floodTFTP(t, tc.bin)
			if tc.maxHWM > 0 && hwm > tc.maxHWM {
				t.Errorf("VmHWM %d MB, want < %d MB", hwm>>10, tc.maxHWM>>10)
			}
			if tc.maxHeap > 0 && heap > tc.maxHeap {
				t.Errorf("Go heap in use peaked at %.0f MB, want < %.0f MB", heap/(1<<20), tc.maxHeap/(1<<20))
			}
		})
	}
}

// floodTFTP runs the flood against bootsrv binary bin and checks what does
// not depend on the build; it returns bootsrv's VmHWM (kB) and the
// highest Go heap in use seen (bytes).
func floodTFTP(t *testing.T, bin string) (hwm int64, heap float64) {
	curl := requireTool(t, "curl")
	ns := newNetns(t)
	mustRun(t, "ip", "-n", ns, "route", "add", "local", "10.99.0.0/16", "dev", "lo")
	data := randomBytes(1<<20 + 4321)
	p := startBootsrv(t, bootsrvOpts{Files: map[string][]byte{"boot/image.bin": data}, Netns: ns, NoDefaultAddrs: true, Bin: bin,
		Args: []string{"-tftp-addr", "10.99.0.1:0", "-ftp-addr", "off", "-http-addr", "127.0.0.1:0", "-log-level", "info"}})
	srv := &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: p.Port("tftp")}
	const unverifiedRetries, maxTransfers = 1, 2000 // the defaults

	// 1500 addresses with 4 ports each (max_unverified_per_ip), and one
	// address with 200 ports, of which all but 4 are refused.
	var addrs []string
	for i := range 1500 {
		for range 4 {
			addrs = append(addrs, fmt.Sprintf("10.99.%d.%d:0", 1+i/250, 1+i%250))
		}
	}
	for range 200 {
		addrs = append(addrs, "10.99.100.1:0")
	}
	flood := openInNetns(t, ns, addrs)
	rrq := func(opts ...string) []byte {
		b := []byte{0, 1}
		for _, s := range append([]string{"boot/image.bin", "octet", "timeout", "255"}, opts...) {
			b = append(append(b, s...), 0)
		}
		return b
	}
	requests := [][]byte{rrq(), rrq("blksize", "65464", "windowsize", "64", "tsize", "0")}

	mem := watchMemory(t, ns, p)
	full := make(chan struct{})
	flooded := make(chan error, 1)
	go func() {
		// About 2000 requests a second: every slot is taken within a
		// second, and each later request evicts the oldest unanswered one.
		var err error
		for i, c := range flood {
			if _, werr := c.WriteToUDP(requests[i%2], srv); werr != nil && err == nil {
				err = werr
			}
			if i == maxTransfers+500 {
				close(full)
			}
			if i%100 == 99 {
				time.Sleep(50 * time.Millisecond)
			}
		}
		flooded <- err
	}()
	<-full
	t.Logf("in flight when curl starts: %v", nsMetric(t, ns, p, "bootsrv_tftp_transfers_in_flight"))
	out := filepath.Join(t.TempDir(), "image.bin")
	curlArgv := inNetns(ns, curl, "-sS", "--tftp-blksize", "1468", "-o", out, "tftp://"+srv.String()+"/boot/image.bin")
	start := time.Now()
	if o, err := runTool(t, 60*time.Second, curlArgv[0], curlArgv[1:]...); err != nil {
		t.Fatalf("curl during the flood: %v\n%s", err, o)
	}
	t.Logf("curl fetched %d bytes during the flood in %s", len(data), time.Since(start).Round(time.Millisecond))
	if got := fileSHA256(t, out); got != sha256Hex(data) {
		t.Fatalf("curl during the flood: sha256 %s, want %s", got, sha256Hex(data))
	}
	if err := <-flooded; err != nil {
		t.Fatalf("flood: %v", err)
	}
	floodEnd := time.Now()

	// Slots come back within the unverified bound, 2 x timeout.
	deadline := time.Now().Add(30 * time.Second)
	for nsMetric(t, ns, p, "bootsrv_tftp_transfers_in_flight") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("transfers still in flight 30s after the flood:\n%s", nsMetrics(t, ns, p.Addr("http")))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every slot free %s after the flood's last request", time.Since(floodEnd).Round(100*time.Millisecond))

	// What each request drew, now that every transfer has ended.
	perRequest := map[int]int{}
	oacks, busy := 0, 0
	for i, c := range flood {
		got := queued(t, c)
		for _, op := range got {
			switch op {
			case 6:
				oacks++
			case 5:
				busy++
			}
		}
		perRequest[len(got)]++
		if len(got) > 1+unverifiedRetries {
			t.Errorf("flood request %d (%s) drew %d datagrams, want at most %d", i, c.LocalAddr(), len(got), 1+unverifiedRetries)
		}
	}
	t.Logf("flood: %d requests; datagrams per request -> requests: %v; OACKs %d, server busy %d", len(flood), perRequest, oacks, busy)

	for _, series := range []string{
		`bootsrv_tftp_transfers_total{direction="download",result="evicted"}`,
		`bootsrv_tftp_transfers_total{direction="download",result="unverified_timeout"}`,
		`bootsrv_tftp_refusals_total{reason="unverified_limit"}`,
	} {
		v := nsMetric(t, ns, p, series)
		t.Logf("%s %v", series, v)
		if v == 0 {
			t.Errorf("%s = 0", series)
		}
	}
	if got := nsMetric(t, ns, p, `bootsrv_tftp_transfers_total{direction="download",result="ok"}`); got < 1 {
		t.Errorf("curl's transfer not counted ok: %v", got)
	}
	if got := nsMetric(t, ns, p, "bootsrv_tftp_buffer_bytes"); got != 0 {
		t.Errorf("buffer bytes %v with nothing in flight", got)
	}
	hwm = procStatusKB(t, p.cmd.Process.Pid, "VmHWM")
	rss, heap := mem()
	t.Logf("bootsrv memory: VmHWM %d MB, highest VmRSS seen %d MB, highest Go heap in use seen %.0f MB", hwm>>10, rss>>10, heap/(1<<20))
	return hwm, heap
}

// openInNetns opens one UDP socket for each address, inside namespace ns;
// they stay there, and are closed at cleanup.
func openInNetns(t *testing.T, ns string, addrs []string) []*net.UDPConn {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	var conns []*net.UDPConn
	var lerr error
	for _, a := range addrs {
		var ua *net.UDPAddr
		if ua, lerr = net.ResolveUDPAddr("udp4", a); lerr != nil {
			break
		}
		var c *net.UDPConn
		if c, lerr = net.ListenUDP("udp4", ua); lerr != nil {
			break
		}
		conns = append(conns, c)
	}
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		panic(err) // this thread is in the wrong namespace; do not reuse it
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if lerr != nil {
		t.Fatalf("socket %d of %d: %v", len(conns)+1, len(addrs), lerr)
	}
	return conns
}

// queued returns the opcodes of the datagrams waiting on c, without
// waiting for more.
func queued(t *testing.T, c *net.UDPConn) []uint16 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ops []uint16
	buf := make([]byte, 2048)
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if errors.Is(rerr, unix.EAGAIN) {
			return ops
		}
		if rerr != nil {
			t.Fatal(rerr)
		}
		if n >= 2 {
			ops = append(ops, binary.BigEndian.Uint16(buf))
		}
	}
}

// nsMetric is one series of bootsrv's metrics, read from inside ns; 0
// when absent.
func nsMetric(t *testing.T, ns string, p *bootsrvProc, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(nsMetrics(t, ns, p.Addr("http")), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// procStatusKB reads a kB field (VmRSS, VmHWM) of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatal(errors.New(field + " not in /proc/PID/status"))
	return 0
}

// watchMemory samples bootsrv's VmRSS every 100ms and its Go heap in use
// (from /metrics, inside ns) every 500ms until the test ends; the returned
// func gives the highest values seen, in kB and bytes.
func watchMemory(t *testing.T, ns string, p *bootsrvProc) func() (rssKB int64, heap float64) {
	t.Helper()
	pid := p.cmd.Process.Pid
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "bootsrv" {
		t.Fatalf("pid %d is %q, not bootsrv", pid, comm)
	}
	var mu sync.Mutex
	var peakRSS int64
	var peakHeap float64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			rss := rssKB(pid)
			var heap float64
			if n%5 == 0 {
				heap = heapInUse(ns, p.Addr("http"))
			}
			mu.Lock()
			peakRSS, peakHeap = max(peakRSS, rss), max(peakHeap, heap)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() (int64, float64) {
		mu.Lock()
		defer mu.Unlock()
		return peakRSS, peakHeap
	}
}

// rssKB is VmRSS of pid, 0 if unknown. It runs off the test goroutine, so
// it cannot fail the test.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

// heapInUse is go_memstats_heap_inuse_bytes from /metrics at addr in ns,
// 0 if unknown.
func heapInUse(ns, addr string) float64 {
	argv := inNetns(ns, "curl", "-fsS", "-m", "2", "http://"+addr+"/metrics")
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}
