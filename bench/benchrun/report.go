package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
)

type results struct {
	Started string       `json:"started"`
	Seconds float64      `json:"seconds"`
	Smoke   bool         `json:"smoke"`
	Reps    int          `json:"reps"`
	Machine string       `json:"machine"`
	Loss    string       `json:"loss_method,omitempty"`
	Rows    []*rowResult `json:"rows"`
}

type rowResult struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Unit is "s" (seconds, lower is better) or "/s" (rate, higher is better).
	Unit           string          `json:"unit"`
	HigherIsBetter bool            `json:"higher_is_better"`
	Reps           int             `json:"reps"`
	Servers        []*serverResult `json:"servers"`
	// BestPeer is the peer with the best median; Ratio is bootsrv's
	// median divided by it (0 when either is missing).
	BestPeer string   `json:"best_peer"`
	Ratio    float64  `json:"ratio_bootsrv_over_best_peer"`
	Notes    []string `json:"notes,omitempty"`
}

type serverResult struct {
	Name     string    `json:"name"`
	Values   []float64 `json:"values"`
	Median   float64   `json:"median"`
	Failures int       `json:"failures"`
	// RSSMiB: VmHWM of the server process, or for forking servers the
	// peak of the sampled (50 ms) sum of VmRSS over its process tree when
	// larger. Procs is the most processes seen in that tree at once.
	RSSMiB float64  `json:"peak_rss_mib"`
	Procs  int      `json:"peak_processes,omitempty"`
	Note   string   `json:"note,omitempty"`
	Steps  []string `json:"dhcp_steps,omitempty"`
	// ServerCPU and ClientCPU are, per repetition of a TFTP or FTP row,
	// the CPU seconds (user and system) the server's process tree and
	// the client processes used; their medians are printed. On a
	// 2-core machine a case cannot take less than (server + clients) / 2
	// seconds of wall time, which bounds what a faster server can gain.
	ServerCPU []float64 `json:"server_cpu_s,omitempty"`
	ClientCPU []float64 `json:"client_cpu_s,omitempty"`
	// CPUFromProc: the server's CPU time came from /proc, not a cgroup,
	// and misses children the kernel reaped for it.
	CPUFromProc bool `json:"server_cpu_from_proc,omitempty"`
}

func newRowResult(r *row) *rowResult {
	res := &rowResult{ID: r.id, Title: r.title, Unit: r.unit, HigherIsBetter: r.higher}
	for _, s := range r.servers {
		res.Servers = append(res.Servers, &serverResult{Name: s})
	}
	return res
}

func (r *rowResult) server(name string) *serverResult {
	for _, s := range r.Servers {
		if s.Name == name {
			return s
		}
	}
	panic("no server " + name) // rows list their servers up front
}

// finish computes the medians, the best peer and the ratio.
func (r *rowResult) finish() {
	var best *serverResult
	for _, s := range r.Servers {
		s.Median = median(s.Values)
		if s.Name == bootsrv || s.Failures > 0 || s.Median == 0 {
			continue
		}
		if best == nil || (r.HigherIsBetter && s.Median > best.Median) || (!r.HigherIsBetter && s.Median < best.Median) {
			best = s
		}
	}
	b := r.server(bootsrv)
	if best != nil && b.Median > 0 {
		r.BestPeer, r.Ratio = best.Name, b.Median/best.Median
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (res *results) failures() int {
	n := 0
	for _, r := range res.Rows {
		for _, s := range r.Servers {
			n += s.Failures
		}
	}
	return n
}

// printTable prints the medians and ratios, then peak memory.
func printTable(w io.Writer, res *results) {
	names := []string{bootsrv, hpa, dnsmasq, atftpd, vsftpd, keaDHCP4, keaDHCP6}
	fmt.Fprintf(w, "\nbootsrv vs peers: median of %d run(s) per server; ratio = bootsrv / best peer\n", res.Reps)
	fmt.Fprintln(w, "(times: below 1 = bootsrv faster; DHCP rate: above 1 = bootsrv sustains more). '!' = failed or inexact transfers in that cell.")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "row\tunit\t"+strings.Join(names, "\t")+"\tratio\tbest peer\t")
	for _, r := range res.Rows {
		cells := []string{r.ID, r.Unit}
		for _, n := range names {
			cells = append(cells, cell(r, n, func(s *serverResult) string { return formatValue(s.Median, r.Unit) + failFlag(s) }))
		}
		ratio := "-"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		cells = append(cells, ratio, r.BestPeer)
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w, "\npeak RSS, MiB (VmHWM; forking servers: peak sum of VmRSS over the process tree, sampled every 50 ms, shared pages counted per process)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "row\t"+strings.Join(names, "\t")+"\t")
	for _, r := range res.Rows {
		cells := []string{r.ID}
		for _, n := range names {
			cells = append(cells, cell(r, n, func(s *serverResult) string {
				if s.Procs > 1 {
					return fmt.Sprintf("%.1f (%dp)", s.RSSMiB, s.Procs)
				}
				return fmt.Sprintf("%.1f", s.RSSMiB)
			}))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	printCPU(w, res, names)
	fmt.Fprintln(w)
	for _, r := range res.Rows {
		fmt.Fprintf(w, "%s: %s\n", r.ID, r.Title)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "    %s\n", n)
		}
		for _, s := range r.Servers {
			if s.Note != "" {
				fmt.Fprintf(w, "    %s: %s\n", s.Name, s.Note)
			}
		}
	}
	fmt.Fprintf(w, "machine: %s; %.0f s in all\n", res.Machine, res.Seconds)
}

// printCPU prints, for the rows that measured it, the median CPU seconds
// of a repetition: the server's, then the clients'.
func printCPU(w io.Writer, res *results, names []string) {
	var rows []*rowResult
	for _, r := range res.Rows {
		if slices.ContainsFunc(r.Servers, func(s *serverResult) bool { return len(s.ServerCPU) > 0 }) {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nCPU seconds per repetition, median: server / clients (user+system; server: its own cgroup, '*' = from /proc, without children the kernel reaped; clients: rusage)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "row\t"+strings.Join(names, "\t")+"\t")
	for _, r := range rows {
		cells := []string{r.ID}
		for _, n := range names {
			cells = append(cells, cell(r, n, func(s *serverResult) string {
				if len(s.ServerCPU) == 0 {
					return ""
				}
				mark := ""
				if s.CPUFromProc {
					mark = "*"
				}
				return fmt.Sprintf("%.2f%s / %.2f", median(s.ServerCPU), mark, median(s.ClientCPU))
			}))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
}

func cell(r *rowResult, name string, f func(*serverResult) string) string {
	for _, s := range r.Servers {
		if s.Name == name {
			return f(s)
		}
	}
	return ""
}

func formatValue(v float64, unit string) string {
	if unit == "/s" {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func failFlag(s *serverResult) string {
	if s.Failures > 0 {
		return fmt.Sprintf("!%d", s.Failures)
	}
	return ""
}

func writeJSON(path string, res *results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// machine describes where the run happened: CPUs, kernel, load.
func machine() string {
	kernel, _ := exec.Command("uname", "-r").Output()
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if len(f) > 3 {
		f = f[:3]
	}
	return fmt.Sprintf("%d CPUs, Linux %s, load at start %s", runtime.NumCPU(), strings.TrimSpace(string(kernel)), strings.Join(f, " "))
}
