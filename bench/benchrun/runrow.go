package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// runRow starts every server of a TFTP or FTP row at once (each on its own
// port), gives each repetition to the servers in a rotating order so that
// load from elsewhere on the machine hits them alike, then stops them and
// reads their peak memory.
func (e *env) runRow(r *row) (*rowResult, error) {
	if r.group == "dhcp" {
		return e.runDHCP(r)
	}
	res := newRowResult(r)
	if r.loss {
		how, err := e.setLoss()
		if err != nil {
			return nil, err
		}
		defer e.clearLoss()
		e.lossMethod = how
		res.Notes = append(res.Notes, "loss: "+how)
	}
	procs := map[string]*proc{}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for _, s := range r.servers {
		p, err := e.startServer(s, r.group)
		if err != nil {
			return nil, err
		}
		procs[s] = p
		if r.probe != nil {
			res.server(s).Note = r.probe(e, s)
		}
	}
	stopProfile := e.startProfile(r.id, procs[bootsrv])
	n, reps := len(r.servers), e.o.reps
	if r.loss {
		reps = e.o.lossReps
	}
	res.Reps = reps
	for rep := range reps {
		for i := range n {
			if e.ctx.Err() != nil {
				return res, nil
			}
			s := r.servers[(i+rep)%n]
			before, _ := procs[s].cpuSeconds()
			c := r.run(e, s, rep)
			sr := res.server(s)
			sr.Values = append(sr.Values, c.value)
			after, exact := procs[s].cpuSeconds()
			sr.ServerCPU = append(sr.ServerCPU, after-before)
			sr.CPUFromProc = sr.CPUFromProc || !exact
			sr.ClientCPU = append(sr.ClientCPU, c.clientCPU)
			sr.Failures += c.failures
			if c.note != "" {
				sr.Note = strings.TrimPrefix(sr.Note+"; "+c.note, "; ")
			}
			e.logf("  rep %d %-10s %8.3f %s%s", rep+1, s, c.value, r.unit, failMark(c.failures))
			if procs[s].exited() {
				return nil, fmt.Errorf("%s exited during the row (see logs/%s.log)", s, s)
			}
		}
	}
	stopProfile()
	for s, p := range procs {
		p.stop()
		res.server(s).RSSMiB = p.rssMiB()
		res.server(s).Procs = p.procs()
	}
	res.finish()
	return res, nil
}

func failMark(n int) string {
	if n > 0 {
		return fmt.Sprintf("  FAILED x%d", n)
	}
	return ""
}

// startProfile records bootsrv's CPU with perf for the row when -profile
// is set, and returns the function that stops it and writes a report.
func (e *env) startProfile(id string, p *proc) func() {
	if e.o.profile == "" || p == nil {
		return func() {}
	}
	os.MkdirAll(e.o.profile, 0o755)
	data := filepath.Join(e.o.profile, id+".perf.data")
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-o", data, "-p", fmt.Sprint(p.cmd.Process.Pid))
	logf, _ := os.Create(filepath.Join(e.o.profile, id+".perf.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.logf("perf: %v", err)
		return func() {}
	}
	// perf has no ready signal and takes a moment to attach to every
	// thread; without this pause a short first repetition goes unrecorded.
	time.Sleep(2 * time.Second)
	return func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		logf.Close()
		for _, rep := range []struct{ suffix, sort string }{{".symbols.txt", "symbol"}, {".dso.txt", "dso"}} {
			out, _ := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
				"--percent-limit", "0.5", "--sort", rep.sort).CombinedOutput()
			os.WriteFile(filepath.Join(e.o.profile, id+rep.suffix), out, 0o644)
		}
		e.logf("  profile: %s.symbols.txt", filepath.Join(e.o.profile, id))
	}
}
