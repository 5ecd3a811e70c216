// Command bootsrv serves one image store over TFTP, FTP and DHCP, with
// Prometheus metrics and structured logs. See the README for usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// without it the module version from the build info is used.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "bootsrv:", err)
		os.Exit(1)
	}
}

const usageText = `Usage:
  bootsrv [-config FILE] [-root DIR] [-tftp-addr ADDR] [-ftp-addr ADDR] [-http-addr ADDR]
          [-log-level LEVEL] [-log-format json|console]
  bootsrv check [-config FILE]   validate a config file and print what would run
  bootsrv passwd                 read a password on stdin, print a hash for ftp.users
                                 and http.users
  bootsrv leases [-config FILE] [-v6] [-user NAME]
                                 list the DHCP (-v6: DHCPv6) leases (lease file or database)
  bootsrv machines [-config FILE] [-user NAME]
                                 the running server's boot timelines (-mac MAC, -json)
  bootsrv reload [-config FILE] [-http-addr ADDR] [-user NAME]
                                 ask the running server to reload its config; prints
                                 what changed or why the new config was refused
  bootsrv migrate -config FILE   create/upgrade the PostgreSQL lease schema
  bootsrv explain -config FILE -mac MAC [-arch A] [-user-class S] [-vendor-class S]
                  [-giaddr IP] [-circuit-id S] [-remote-id S] [-client-id HEX] [-json]
                                 what bootsrv would answer that machine, and why
  bootsrv explain -v6 -config FILE -mac MAC [-duid HEX] [-arch A] [-user-class S]
                  [-vendor-class S] [-link-addr IP] [-interface-id S] [-remote-id S] [-json]
                                 the same for DHCPv6 (dhcpv6 section)
  bootsrv version                print the version

Without -config, bootsrv serves ./images read-only over TFTP and anonymous
FTP and exposes /metrics; DHCP runs only when a config names an interface
and a mode (server, or proxy beside the segment's own DHCP server). An
address of "off" disables that service. Flags override the config file.
SIGHUP, like bootsrv reload, re-reads the config: checked first, a bad one
changes nothing; what cannot change while serving is reported.
The web console is at / on the HTTP address. With http.users set, the
commands that ask the running server (reload, machines, leases) take
-user NAME (or $BOOTSRV_USER) and read the password from $BOOTSRV_PASSWORD.

Flags:
`

// run is main without the process: it parses args, runs the command and
// returns its error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "bootsrv %s (%s)\n", buildVersion(), runtime.Version())
			return nil
		case "check":
			return runCheck(args[1:], stdout, stderr)
		case "passwd":
			return runPasswd(stdin, stdout)
		case "leases":
			return runLeases(args[1:], stdout, stderr)
		case "machines":
			return runMachines(ctx, args[1:], stdout, stderr)
		case "reload":
			return runReload(ctx, args[1:], stdout, stderr)
		case "explain":
			return runExplain(ctx, args[1:], stdout, stderr)
		case "migrate":
			return runMigrate(ctx, args[1:], stdout, stderr)
		}
	}
	fl, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(fl.configFile, fl)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, fl, stderr)
}

// serveFlags are the command-line overrides of the config file.
type serveFlags struct {
	configFile string
	set        map[string]string // flag name -> value, only flags given
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	fs := flag.NewFlagSet("bootsrv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fl := &serveFlags{set: map[string]string{}}
	fs.StringVar(&fl.configFile, "config", "", "config `FILE` (YAML); default: the embedded default config")
	fs.String("root", "", "image store `DIR` (images.root; default ./images)")
	fs.String("tftp-addr", "", "TFTP listen `ADDR` or off (tftp.listen; default :69 as root, :6969 otherwise)")
	fs.String("ftp-addr", "", "FTP listen `ADDR` or off (ftp.listen; default :21 as root, :2121 otherwise)")
	fs.String("http-addr", "", "HTTP listen `ADDR` for the console, /metrics, /healthz and the API, or off (http.listen; default :8080)")
	fs.String("log-level", "", "log `LEVEL`: debug, info, warn, error (log.level; default info)")
	fs.String("log-format", "", "log format: json or console (log.format; default json)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "config" {
			fl.set[f.Name] = f.Value.String()
		}
	})
	return fl, nil
}

// flagKeys maps each override flag to the config key it sets.
var flagKeys = map[string]string{
	"root":       "images.root",
	"tftp-addr":  "tftp.listen",
	"ftp-addr":   "ftp.listen",
	"http-addr":  "http.listen",
	"log-level":  "log.level",
	"log-format": "log.format",
}

// apply writes the flags that were given over the loaded config and notes
// which keys they set, so a bad flag value is reported by its flag.
func (fl *serveFlags) apply(cfg *Config) {
	for name, v := range fl.set {
		cfg.flags[flagKeys[name]] = name
		switch name {
		case "root":
			cfg.Images.Root = v
		case "tftp-addr":
			cfg.TFTP.Listen = v
		case "ftp-addr":
			cfg.FTP.Listen = v
		case "http-addr":
			cfg.HTTP.Listen = v
		case "log-level":
			cfg.Log.Level = v
		case "log-format":
			cfg.Log.Format = v
		}
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
