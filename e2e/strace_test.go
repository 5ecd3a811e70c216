package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syscallCounter is strace -c attached to a running bootsrv.
type syscallCounter struct {
	cmd     *exec.Cmd
	summary string
}

// countSyscalls attaches `strace -f -c` to bootsrv for the given syscalls
// and returns once strace is tracing (it reports each attached thread on
// stderr). It skips the test when strace cannot attach.
func countSyscalls(t *testing.T, p *bootsrvProc, syscalls ...string) *syscallCounter {
	t.Helper()
	strace := requireTool(t, "strace")
	c := &syscallCounter{summary: filepath.Join(t.TempDir(), "strace.txt")}
	c.cmd = exec.Command(strace, "-f", "-c", "-o", c.summary, "-e", "trace="+strings.Join(syscalls, ","),
		"-p", strconv.Itoa(p.cmd.Process.Pid))
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill() })
	attached := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case attached <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-attached:
		if !strings.Contains(l, "attached") {
			t.Skipf("strace cannot attach: %s", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("strace did not attach")
	}
	return c
}

// stop detaches strace and returns the call count per syscall name.
func (c *syscallCounter) stop(t *testing.T) map[string]int {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGINT)
	c.cmd.Wait()
	out, err := os.ReadFile(c.summary)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("strace -c:\n%s", out)
	calls := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 {
			if n, err := strconv.Atoi(f[3]); err == nil {
				calls[f[len(f)-1]] = n
			}
		}
	}
	return calls
}
