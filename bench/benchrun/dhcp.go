package main

import (
	"fmt"
	"regexp"
	"strconv"
)

// ladder is the rates (DORA exchanges per second) tried in turn until one
// fails; then the gap between the last pass and the first failure is
// halved twice.
var ladder = []int{1000, 2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000, 24000, 32000}

// pgLadder starts lower: a server that commits each lease in its own
// database transaction is measured in hundreds per second.
var pgLadder = []int{250, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000}

// search is one server's rate search.
type search struct {
	ladder     []int
	i          int
	pass, fail int
	bisect     int
	done       bool
}

func newSearch(ladder []int, bisect int) *search { return &search{ladder: ladder, bisect: bisect} }

// next is the rate to try, or false when the search is over.
func (s *search) next() (int, bool) {
	if s.done {
		return 0, false
	}
	if s.fail == 0 {
		if s.i >= len(s.ladder) {
			s.done = true
			return 0, false
		}
		return s.ladder[s.i], true
	}
	mid := (s.pass + s.fail) / 2 / 250 * 250
	if s.bisect <= 0 || mid <= s.pass || mid >= s.fail {
		s.done = true
		return 0, false
	}
	return mid, true
}

func (s *search) record(rate int, ok bool) {
	switch {
	case s.fail == 0 && ok:
		s.pass = rate
		s.i++
	case s.fail == 0:
		s.fail = rate
	default:
		s.bisect--
		if ok {
			s.pass = rate
		} else {
			s.fail = rate
		}
	}
}

// perfStats is perfdhcp's summary: the DISCOVER-OFFER exchange first, then
// REQUEST-ACK.
type perfStats struct {
	sent, recv [2]int
	drops      [2]float64
}

var (
	sentRE  = regexp.MustCompile(`sent packets:\s*(\d+)`)
	recvRE  = regexp.MustCompile(`received packets:\s*(\d+)`)
	dropsRE = regexp.MustCompile(`drops ratio:\s*([0-9.eE+-]+)`)
)

func parsePerfdhcp(out string) (perfStats, error) {
	var st perfStats
	s, r, d := sentRE.FindAllStringSubmatch(out, 2), recvRE.FindAllStringSubmatch(out, 2), dropsRE.FindAllStringSubmatch(out, 2)
	if len(s) < 2 || len(r) < 2 || len(d) < 2 {
		return st, fmt.Errorf("perfdhcp printed no statistics for both exchanges")
	}
	for i := range 2 {
		st.sent[i], _ = strconv.Atoi(s[i][1])
		st.recv[i], _ = strconv.Atoi(r[i][1])
		st.drops[i], _ = strconv.ParseFloat(d[i][1], 64)
	}
	return st, nil
}

// ok: under 1% dropped in both exchanges, and perfdhcp itself kept up
// (sent at least 95% of the DISCOVERs asked for).
func (st perfStats) ok(rate, secs int) bool {
	return st.drops[0] < 1 && st.drops[1] < 1 && float64(st.sent[0]) >= 0.95*float64(rate*secs)
}

// runDHCP searches each server's highest DORA rate with under 1% drops,
// once per repetition. The servers take turns at each step, each on a
// fresh process and an empty lease file, so load from elsewhere on the
// machine hits both alike.
func (e *env) runDHCP(r *row) (*rowResult, error) {
	res := newRowResult(r)
	steps, bisect := ladder, 2
	if r.pg {
		steps = pgLadder
	}
	if e.o.smoke {
		steps, bisect = []int{200}, 0
	}
	res.Reps = e.o.reps
	for rep := range e.o.reps {
		searches := map[string]*search{}
		for _, s := range r.servers {
			searches[s] = newSearch(steps, bisect)
		}
		for more := true; more; {
			more = false
			for _, s := range r.servers {
				if e.ctx.Err() != nil {
					return res, nil
				}
				rate, ok := searches[s].next()
				if !ok {
					continue
				}
				more = true
				pass, err := e.dhcpStep(res.server(s), rate, r)
				if err != nil {
					return nil, err
				}
				searches[s].record(rate, pass)
			}
		}
		for _, s := range r.servers {
			sr := res.server(s)
			sr.Values = append(sr.Values, float64(searches[s].pass))
			if searches[s].pass == 0 {
				sr.Failures++
			}
			e.logf("  rep %d %-10s %8d /s", rep+1, s, searches[s].pass)
		}
	}
	switch {
	case r.v6:
		res.Notes = append(res.Notes, "perfdhcp -6 on c0, not relayed (link-local to ff02::1:2), a new DUID per exchange; "+
			"kea-dhcp6: memfile, persist=true, lfc-interval=0 (leases appended to a CSV file, not fsynced), single-threaded (Kea's default for memfile); "+
			"bootsrv: bbolt, fsync (group commit) before each REPLY")
	case r.pg:
		res.Notes = append(res.Notes, "both: lease-database PostgreSQL 15 on one Unix socket, default settings (fsync, synchronous_commit on), tables emptied before each step; "+
			"kea-dhcp4: type postgresql, schema by kea-admin db-init, multi-threading on (thread-pool-size 8, packet-queue-size 64; "+
			"Kea recommends it for database backends); bootsrv: lease_store postgres, group commit (one transaction per batch of ACKs)")
	default:
		res.Notes = append(res.Notes, "kea-dhcp4: memfile, persist=true, lfc-interval=0 (leases appended to a CSV file, not fsynced); bootsrv: bbolt, fsync (group commit) before each ACK")
	}
	res.finish()
	return res, nil
}

// dhcpStep runs perfdhcp at rate against a fresh server process.
func (e *env) dhcpStep(sr *serverResult, rate int, r *row) (bool, error) {
	group, pg := "dhcp", r.pg
	if r.v6 {
		group = "dhcp6"
	}
	if pg {
		group = "dhcp-pg"
		if err := e.resetPG(); err != nil {
			return false, err
		}
	}
	e.resetLeases()
	p, err := e.startServer(sr.Name, group)
	if err != nil {
		return false, err
	}
	stop := e.startProfile(fmt.Sprintf("dhcp-%d", rate), map[bool]*proc{true: p}[sr.Name == bootsrv])
	out, _ := e.perfdhcpRun(rate, r.v6)
	stop()
	p.stop()
	sr.RSSMiB = max(sr.RSSMiB, p.rssMiB())
	st, err := parsePerfdhcp(out)
	if err != nil {
		e.logf("  %s at %d/s: %v:\n%s", sr.Name, rate, err, out)
		sr.Steps = append(sr.Steps, fmt.Sprintf("%d: no result", rate))
		return false, nil
	}
	pass := st.ok(rate, e.o.dhcpSecs)
	verdict := map[bool]string{true: "ok", false: "fail"}[pass]
	first, second := "DO", "RA"
	if r.v6 {
		first, second = "SA", "RR"
	}
	step := fmt.Sprintf("%d: sent %d, drops %s %.3g%% %s %.3g%% %s", rate, st.sent[0], first, st.drops[0], second, st.drops[1], verdict)
	sr.Steps = append(sr.Steps, step)
	e.logf("    %-10s %s", sr.Name, step)
	return pass, nil
}

func (e *env) perfdhcpRun(rate int, v6 bool) (string, error) {
	// -4 as a relay from c0 (giaddr 10.64.0.2); -R: random MACs from a
	// range far larger than the steps send, so every DORA is a new client.
	// -6: from c0's link-local address to ff02::1:2, as clients on the
	// link send; -R gives each exchange a new DUID. -W: after the last
	// send, wait half a second for the replies still on their way;
	// without it perfdhcp exits at once and counts every exchange in
	// flight as dropped, which a server that commits before it answers
	// (either, with PostgreSQL) is charged for at the end of each step.
	common := []string{"-l", "c0", "-r", fmt.Sprint(rate), "-p", fmt.Sprint(e.o.dhcpSecs), "-W", "500000", "-R", "100000000"}
	args := append(append([]string{"perfdhcp", "-4"}, common...), "10.64.0.1")
	if v6 {
		args = append([]string{"perfdhcp", "-6"}, common...)
	}
	cmd := e.inNS(e.cliNS, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
