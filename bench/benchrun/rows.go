package main

import (
	"fmt"
	"strings"
)

// row is one line of the table: the same work given to every server.
type row struct {
	id, group, title string
	unit             string // "s" (time, lower is better) or "/s" (rate, higher is better)
	higher           bool
	servers          []string
	files            map[string]int64 // files the row needs in the store, by name
	loss             bool             // 1% UDP loss on the server namespace's loopback
	pg               bool             // DHCP: leases in the run's PostgreSQL server (pg.go)
	v6               bool             // DHCP: DHCPv6, perfdhcp -6 (SOLICIT/ADVERTISE, REQUEST/REPLY)
	// run does one repetition against one server and returns the measured
	// value, the number of failed or inexact transfers, and a note.
	run func(e *env, srv string, rep int) caseResult
	// probe, when set, runs once per server before the repetitions and
	// returns a note for the table (e.g. which options were acknowledged).
	probe func(e *env, srv string) string
}

type caseResult struct {
	value    float64
	failures int
	note     string
	// clientCPU is the CPU time, user and system, the client processes
	// of the case used, from their rusage; 0 when not measured.
	clientCPU float64
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// plan lists the rows of the selected groups, with full or smoke sizes.
func plan(o *options) []*row {
	big, storm, ftpBig, ftpSmall := int64(30*mib), int64(4*mib), int64(512*mib), int64(4*mib)
	stormA, stormB, stormLoss, ftpConc, ftpSeq := 50, 500, 500, 50, 200
	if o.smoke {
		big, storm, ftpBig, ftpSmall = 256*kib, 64*kib, 2*mib, 64*kib
		stormA, stormB, stormLoss, ftpConc, ftpSeq = 10, 50, 10, 10, 20
	}
	var rows []*row
	if o.rows["tftp"] {
		rows = append(rows, tftpRows(big, storm, stormA, stormB, stormLoss)...)
	}
	if o.rows["ftp"] {
		rows = append(rows, ftpRows(ftpBig, ftpSmall, ftpConc, ftpSeq)...)
	}
	if o.rows["dhcp"] {
		rows = append(rows, &row{
			id: "dhcp-dora-rate", group: "dhcp", unit: "/s", higher: true, servers: []string{bootsrv, keaDHCP4},
			title: "DHCP DORA rate with <1% drops, perfdhcp (higher is better)",
		}, &row{
			id: "dhcp-pg-dora-rate", group: "dhcp", unit: "/s", higher: true, servers: []string{bootsrv, keaDHCP4}, pg: true,
			title: "DHCP DORA rate with <1% drops, perfdhcp, leases in PostgreSQL 15 (one server for both; higher is better)",
		}, &row{
			id: "dhcpv6-sarr-rate", group: "dhcp", unit: "/s", higher: true, servers: []string{bootsrv, keaDHCP6}, v6: true,
			title: "DHCPv6 SOLICIT/ADVERTISE/REQUEST/REPLY rate with <1% drops, perfdhcp -6 (higher is better)",
		})
	}
	if o.only != "" {
		rows = selectRows(rows, strings.Split(o.only, ","))
	}
	return rows
}

func tftpRows(big, storm int64, stormA, stormB, stormLoss int) []*row {
	tftpServers := []string{bootsrv, hpa, dnsmasq, atftpd}
	var rows []*row
	for _, blk := range []int{512, 1468, 8192} {
		rows = append(rows, &row{
			id: fmt.Sprintf("tftp-curl-blk%d", blk), group: "tftp", unit: "s", servers: tftpServers,
			title: fmt.Sprintf("TFTP %s, curl, blksize %d", size(big), blk),
			files: map[string]int64{"tftp-big.bin": big},
			run: func(e *env, srv string, rep int) caseResult {
				return e.timeToFile("tftp-big.bin", "curl", "-sS", "-m", "600", "--tftp-blksize", fmt.Sprint(blk),
					"-o", "{out}", fmt.Sprintf("tftp://127.0.0.1:%d/tftp-big.bin", tftpPorts[srv]))
			},
		})
	}
	rows = append(rows, &row{
		id: "tftp-atftp-win16", group: "tftp", unit: "s", servers: tftpServers,
		title: fmt.Sprintf("TFTP %s, atftp, blksize 1468, windowsize 16", size(big)),
		files: map[string]int64{"tftp-big.bin": big},
		run: func(e *env, srv string, rep int) caseResult {
			return e.timeToFile("tftp-big.bin", "atftp", "--option", "blksize 1468", "--option", "windowsize 16",
				"--get", "-r", "tftp-big.bin", "-l", "{out}", "127.0.0.1", fmt.Sprint(tftpPorts[srv]))
		},
		probe: (*env).windowProbe,
	})
	for _, s := range []struct {
		n    int
		loss bool
	}{{stormA, false}, {stormB, false}, {stormLoss, true}} {
		id, title := fmt.Sprintf("tftp-storm-%d", s.n), fmt.Sprintf("TFTP boot storm: %d curl clients at once x %s, blksize 1468", s.n, size(storm))
		if s.loss {
			id, title = id+"-loss1", title+", 1% UDP loss"
		}
		rows = append(rows, &row{
			id: id, group: "tftp", unit: "s", servers: tftpServers, title: title, loss: s.loss,
			files: map[string]int64{"tftp-storm.bin": storm},
			run: func(e *env, srv string, rep int) caseResult {
				return e.concurrent(s.n, "tftp-storm.bin", "curl", "-sS", "-m", "600", "--tftp-blksize", "1468", "-o", "-",
					fmt.Sprintf("tftp://127.0.0.1:%d/tftp-storm.bin", tftpPorts[srv]))
			},
		})
	}
	return rows
}

// ftpCurl is curl as every FTP row runs it. curl 7.88 (Debian 12) starts
// the passive data connection only when its 200ms happy-eyeballs timer
// fires if the EPSV reply arrives in the same read as it was asked for,
// which a fast server's often does; a 1ms timer takes that client-side
// stall out of every server's figures alike (there is only IPv4 here).
var ftpCurl = []string{"curl", "-sS", "-m", "600", "--happy-eyeballs-timeout-ms", "1"}

// ftpArgv is the command line of an FTP row's client.
func ftpArgv(args ...string) []string { return append(append([]string{}, ftpCurl...), args...) }

func ftpRows(ftpBig, ftpSmall int64, ftpConc, ftpSeq int) []*row {
	ftpServers := []string{bootsrv, vsftpd}
	return []*row{{
		id: "ftp-retr-big", group: "ftp", unit: "s", servers: ftpServers,
		title: fmt.Sprintf("FTP RETR %s, curl", size(ftpBig)),
		files: map[string]int64{"ftp-big.bin": ftpBig},
		run: func(e *env, srv string, rep int) caseResult {
			return e.timeToFile("ftp-big.bin", ftpArgv("-o", "{out}", fmt.Sprintf("ftp://127.0.0.1:%d/ftp-big.bin", ftpPorts[srv]))...)
		},
	}, {
		id: fmt.Sprintf("ftp-retr-%dx", ftpConc), group: "ftp", unit: "s", servers: ftpServers,
		title: fmt.Sprintf("FTP %d concurrent curl RETR x %s", ftpConc, size(ftpSmall)),
		files: map[string]int64{"ftp-small.bin": ftpSmall},
		run: func(e *env, srv string, rep int) caseResult {
			return e.concurrent(ftpConc, "ftp-small.bin", ftpArgv("-o", "-", fmt.Sprintf("ftp://127.0.0.1:%d/ftp-small.bin", ftpPorts[srv]))...)
		},
	}, {
		id: fmt.Sprintf("ftp-sessions-%d", ftpSeq), group: "ftp", unit: "s", servers: ftpServers,
		title: fmt.Sprintf("FTP %d sequential sessions (python3 ftplib: login, PASV, RETR %s, quit)", ftpSeq, size(ftpSmall)),
		files: map[string]int64{"ftp-small.bin": ftpSmall},
		run: func(e *env, srv string, rep int) caseResult {
			return e.sessions(ftpSeq, "ftp-small.bin", ftpPorts[srv])
		},
	}, {
		id: "ftp-stor-big", group: "ftp", unit: "s", servers: ftpServers,
		title: fmt.Sprintf("FTP STOR %s, curl, anonymous upload", size(ftpBig)),
		files: map[string]int64{"ftp-big.bin": ftpBig},
		run: func(e *env, srv string, rep int) caseResult {
			return e.upload(srv, rep, "ftp-big.bin")
		},
	}}
}

// selectRows keeps the rows named by want: an entry that is a row's id
// picks that row only, any other entry every row whose id contains it.
func selectRows(rows []*row, want []string) []*row {
	ids := map[string]bool{}
	for _, r := range rows {
		ids[r.id] = true
	}
	var kept []*row
	for _, r := range rows {
		for _, w := range want {
			if w = strings.TrimSpace(w); w == r.id || (!ids[w] && w != "" && strings.Contains(r.id, w)) {
				kept = append(kept, r)
				break
			}
		}
	}
	return kept
}

func size(n int64) string {
	if n >= mib {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%d KiB", n/kib)
}
