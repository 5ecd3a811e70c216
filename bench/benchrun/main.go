package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	smoke    bool
	reps     int
	lossReps int             // repetitions of the lossy rows; 0: reps
	rows     map[string]bool // groups: tftp, ftp, dhcp
	only     string          // substring of row ids to run, empty: all
	jsonOut  string
	bootsrv  string // prebuilt binary; empty: build ./cmd/bootsrv
	cache    string // where atftpd is unpacked
	keep     bool   // keep the work directory
	profile  string // directory for perf profiles of bootsrv; empty: none
	dhcpSecs int    // perfdhcp seconds per rate step
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench/run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	rows := fs.String("rows", "tftp,ftp,dhcp", "comma-separated row `groups` to run: tftp, ftp, dhcp")
	fs.BoolVar(&o.smoke, "smoke", false, "one iteration of every row with tiny files; exit non-zero on any failed or inexact transfer")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of each case per server (medians are taken over them)")
	fs.IntVar(&o.lossReps, "loss-reps", 1, "repetitions of the rows with packet loss (minutes per server: retransmission timeouts); 0: as -reps")
	fs.StringVar(&o.only, "only", "", "run only the rows named by comma-separated `IDS`; an entry that is not a row id picks every row whose id contains it (e.g. storm)")
	fs.StringVar(&o.jsonOut, "json", "bench/out/results.json", "write the results as JSON to `FILE` (\"\" for none)")
	fs.StringVar(&o.bootsrv, "bootsrv", "", "measure this bootsrv `BINARY` instead of building ./cmd/bootsrv")
	fs.StringVar(&o.cache, "cache", "bench/out/cache", "`DIR` where atftpd is downloaded and unpacked")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (server logs, configs) after the run")
	fs.StringVar(&o.profile, "profile", "", "record a perf CPU profile of bootsrv for each row into `DIR`")
	fs.IntVar(&o.dhcpSecs, "dhcp-secs", 3, "perfdhcp seconds per rate step")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.rows = map[string]bool{}
	for _, r := range strings.Split(*rows, ",") {
		switch r = strings.TrimSpace(r); r {
		case "tftp", "ftp", "dhcp":
			o.rows[r] = true
		case "":
		default:
			return nil, fmt.Errorf("-rows: unknown group %q (want tftp, ftp, dhcp)", r)
		}
	}
	if o.smoke {
		o.reps, o.lossReps, o.dhcpSecs = 1, 1, 1
	}
	if o.lossReps == 0 {
		o.lossReps = o.reps
	}
	if o.reps < 1 {
		return nil, errors.New("-reps must be at least 1")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, chroot of the peers): run it with sudo")
	}
	if err := checkTools(o); err != nil {
		return err
	}
	e, err := newEnv(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	start := time.Now()
	rows := plan(o)
	if len(rows) == 0 {
		return errors.New("no rows selected")
	}
	if err := e.setup(rows); err != nil {
		return err
	}
	res := &results{Smoke: o.smoke, Reps: o.reps, Started: start.UTC().Format(time.RFC3339), Machine: machine()}
	for _, r := range rows {
		if ctx.Err() != nil {
			break
		}
		e.logf("== %s (%s)", r.id, r.title)
		rr, err := e.runRow(r)
		if err != nil {
			return fmt.Errorf("%s: %w", r.id, err)
		}
		res.Rows = append(res.Rows, rr)
	}
	res.Seconds = time.Since(start).Seconds()
	res.Loss = e.lossMethod
	if err := report(o, res, stdout); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	if n := res.failures(); n > 0 && o.smoke {
		return fmt.Errorf("smoke: %d failed or inexact transfers (see the table and %s)", n, e.work)
	}
	return nil
}

// report prints the table and writes the JSON file.
func report(o *options, res *results, stdout io.Writer) error {
	printTable(stdout, res)
	if o.jsonOut == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(o.jsonOut), 0o755); err != nil {
		return err
	}
	if err := writeJSON(o.jsonOut, res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "JSON: %s\n", o.jsonOut)
	return nil
}
