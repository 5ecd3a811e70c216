package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuGroup is a cgroup of its own for one server, read for the CPU time
// of everything in it: cgroup v2's cpu.stat usage_usec (present without
// any controller enabled), or cgroup v1's cpuacct.usage.
type cpuGroup struct {
	dir string
	v2  bool
}

// cgroupRoots are where a cgroup hierarchy that can count CPU time may be
// mounted: cgroup v2 alone, v2 beside v1 (hybrid), v1's cpuacct.
var cgroupRoots = []struct {
	dir string
	v2  bool
}{
	{"/sys/fs/cgroup", true},
	{"/sys/fs/cgroup/unified", true},
	{"/sys/fs/cgroup/cpuacct", false},
	{"/sys/fs/cgroup/cpu,cpuacct", false},
}

// newCPUGroup creates cgroup name and moves pid into it; nil when no
// hierarchy takes it (no permission, no such mount): the caller then
// counts from /proc.
func newCPUGroup(name string, pid int) *cpuGroup {
	for _, r := range cgroupRoots {
		probe := "cpuacct.usage"
		if r.v2 {
			probe = "cgroup.procs"
			if _, err := os.Stat(filepath.Join(r.dir, "cgroup.controllers")); err != nil {
				continue
			}
		} else if _, err := os.Stat(filepath.Join(r.dir, probe)); err != nil {
			continue
		}
		g := &cpuGroup{dir: filepath.Join(r.dir, name), v2: r.v2}
		if err := os.Mkdir(g.dir, 0o755); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(g.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			os.Remove(g.dir)
			continue
		}
		if _, err := g.usage(); err != nil {
			g.remove()
			continue
		}
		return g
	}
	return nil
}

// usage is the CPU seconds used in the group so far.
func (g *cpuGroup) usage() (float64, error) {
	if g.v2 {
		b, err := os.ReadFile(filepath.Join(g.dir, "cpu.stat"))
		if err != nil {
			return 0, err
		}
		return parseCPUStat(string(b))
	}
	b, err := os.ReadFile(filepath.Join(g.dir, "cpuacct.usage"))
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return float64(ns) / 1e9, err
}

// parseCPUStat reads usage_usec from a cgroup v2 cpu.stat file.
func parseCPUStat(s string) (float64, error) {
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "usage_usec" {
			us, err := strconv.ParseInt(f[1], 10, 64)
			return float64(us) / 1e6, err
		}
	}
	return 0, errors.New("cpu.stat has no usage_usec")
}

// remove deletes the group once its processes are gone (the kernel
// refuses while any is left); nil-safe.
func (g *cpuGroup) remove() {
	if g == nil {
		return
	}
	for range 50 {
		if err := os.Remove(g.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
