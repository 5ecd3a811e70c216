package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a server process started in a namespace, in its own process
// group so that stop reaches the children of forking servers too, with a
// sampler of its memory.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	e    *env

	mu       sync.Mutex
	hwm      int64 // VmHWM of the main process, kB
	treePeak int64 // peak of the sampled sum of VmRSS over the tree, kB
	procPeak int   // most processes seen in the tree at once
	stopOnce sync.Once
	cg       *cpuGroup // nil: CPU time from /proc
}

// startProc runs args in namespace ns with its output in logs/name.log.
func (e *env) startProc(name, ns string, env []string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(e.work, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), e: e}
	// Before the server can fork: a child joins its parent's cgroup.
	p.cg = newCPUGroup(fmt.Sprintf("bsvbench-%s-%d", name, cmd.Process.Pid), cmd.Process.Pid)
	e.mu.Lock()
	e.procs[p] = true
	e.mu.Unlock()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	go p.sample()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 3 s.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		pgid := p.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		// Children of forking servers may outlive their parent briefly.
		syscall.Kill(-pgid, syscall.SIGKILL)
		p.cg.remove()
		p.e.mu.Lock()
		delete(p.e.procs, p)
		p.e.mu.Unlock()
	})
}

// rssMiB is the peak memory reported for the server: the main process's
// VmHWM, or the peak sampled sum of VmRSS over its process tree when that
// is larger (forking servers). The sum counts shared pages (libc, the
// binary) once per process, so for forking servers it is an upper bound.
func (p *proc) rssMiB() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return float64(max(p.hwm, p.treePeak)) / 1024
}

func (p *proc) procs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.procPeak
}

// sample reads /proc every 50 ms until the process exits.
func (p *proc) sample() {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	pid := p.cmd.Process.Pid
	for {
		hwm, _ := statusKB(pid, "VmHWM:")
		var sum int64
		n := 0
		for _, q := range tree(pid) {
			if rss, ok := statusKB(q, "VmRSS:"); ok {
				sum += rss
				n++
			}
		}
		p.mu.Lock()
		p.hwm = max(p.hwm, hwm)
		p.treePeak = max(p.treePeak, sum)
		p.procPeak = max(p.procPeak, n)
		p.mu.Unlock()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

// tree is pid and its descendants, from /proc/PID/task/PID/children (the
// main thread's children: the forking peers are single-threaded).
func tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out) && i < 5000; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", out[i], out[i]))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture bench/run runs on.
const clockTicks = 100

// cpuSeconds is the CPU time, user and system, the server has used so
// far, with every process it forked. From its own cgroup when it could be
// given one (exact: children count however they end); else from /proc:
// its tree's times plus those of the children it reaped with wait, which
// misses children reaped by the kernel (SIGCHLD ignored, as tftpd-hpa
// does), so the report marks it.
func (p *proc) cpuSeconds() (float64, bool) {
	if p.cg != nil {
		if v, err := p.cg.usage(); err == nil {
			return v, true
		}
	}
	var ticks int64
	for _, pid := range tree(p.cmd.Process.Pid) {
		ticks += statTicks(pid)
	}
	return float64(ticks) / clockTicks, false
}

// statTicks is utime+stime+cutime+cstime of pid (fields 14-17 of
// /proc/PID/stat), 0 when pid is gone.
func statTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStatTicks(string(b))
}

// parseStatTicks reads the four times from a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may hold spaces, so the
// fields are counted from the last ')'.
func parseStatTicks(line string) int64 {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3, the state
	if len(f) < 15 {
		return 0
	}
	var sum int64
	for _, v := range f[11:15] { // fields 14-17
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		sum += n
	}
	return sum
}

func statusKB(pid int, key string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == key {
			v, err := strconv.ParseInt(f[1], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// waitReady calls probe until it succeeds, the process exits or 15 s
// pass. The servers are third-party programs with no readiness signal, so
// this polls with a short pause.
func (p *proc) waitReady(probe func() error) error {
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited at start-up (see logs/%s.log): %v", p.name, p.name, p.cmd.ProcessState)
		}
		if p.e.ctx.Err() != nil {
			return p.e.ctx.Err()
		}
		if err = probe(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 15s: %v", p.name, err)
}
