package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/bootsrv/bootsrv/dhcp"
	"github.com/bootsrv/bootsrv/images"
)

// runCheck validates a config file and prints what would run, without
// opening any socket.
func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootsrv check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "config `FILE` to check; default: the embedded default config")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*file, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", cfg.source)
	access := "write-only but for ftp users with write"
	if cfg.Images.UploadsReadable {
		access = "readable by every protocol"
	}
	fmt.Fprintf(stdout, "  images  %s (uploads into %s, %s)\n", cfg.Images.Root, cfg.Images.Uploads, access)
	if err := cfg.checkRoot(); err != nil {
		fmt.Fprintf(stdout, "  warning: %v\n", err)
	} else if cfg.DHCP.Enabled() {
		checkIPXEBuilds(cfg, stdout)
	}
	fmt.Fprintf(stdout, "  tftp    %s\n", cfg.TFTP.Listen)
	fmt.Fprintf(stdout, "  ftp     %s\n", cfg.FTP.Listen)
	fmt.Fprintf(stdout, "  http    %s\n", cfg.HTTP.Listen)
	if cfg.DHCP.Enabled() {
		fmt.Fprintf(stdout, "  dhcp    %s on %s\n", cfg.DHCP.Mode, cfg.DHCP.Interface)
		if cfg.DHCP.Mode == "proxy" {
			fmt.Fprintf(stdout, "          no addresses, no lease file; pxe_port %d (-1: off)\n", cfg.DHCP.PXEPort)
		} else {
			fmt.Fprintf(stdout, "          leases in %s\n", leaseStoreLine(cfg.DHCP))
		}
	} else {
		fmt.Fprintln(stdout, "  dhcp    off (needs dhcp.mode and dhcp.interface)")
	}
	if v6 := cfg.DHCPv6; v6.Enabled() {
		fmt.Fprintf(stdout, "  dhcpv6  %s on %s, leases in %s; router advertisements %v\n", v6.Mode, v6.Interface,
			leaseStoreLine(dhcp.Config{LeaseFile: v6.LeaseFile, LeaseStore: v6.LeaseStore}), v6.RouterAdvertisements)
	} else {
		fmt.Fprintln(stdout, "  dhcpv6  off (needs dhcpv6.mode and dhcpv6.interface)")
	}
	if len(cfg.Scripts) > 0 {
		names := make([]string, len(cfg.Scripts))
		for i, sc := range cfg.Scripts {
			names[i] = sc.Name
		}
		fmt.Fprintf(stdout, "  scripts %s (over tftp, and http at %s<name>)\n", strings.Join(names, ", "), cfg.HTTP.ImagesPath)
	}
	out, err := yaml.Marshal(redacted(cfg))
	if err != nil {
		return fmt.Errorf("print effective settings: %w", err)
	}
	fmt.Fprintf(stdout, "# effective settings, defaults filled in:\n%s", out)
	return nil
}

// checkIPXEBuilds prints a warning for each bootfile in the store that is
// an iPXE build handed out without a boot.ipxe for iPXE clients.
func checkIPXEBuilds(cfg *Config, stdout io.Writer) {
	store, err := images.Open(cfg.Images.Root)
	if err != nil {
		fmt.Fprintf(stdout, "  warning: %v\n", err)
		return
	}
	defer store.Close()
	_, builds, err := findIPXEBuilds(cfg.dhcpConfig(), store)
	if err != nil {
		fmt.Fprintf(stdout, "  warning: %v\n", err)
	}
	for _, b := range builds {
		fmt.Fprintf(stdout, "  warning: %s\n", ipxeBuildAdvice(b))
	}
}

// leaseStoreLine says where a server keeps its leases, never showing the
// PostgreSQL connection string.
func leaseStoreLine(d dhcp.Config) string {
	s := d.LeaseStore
	if s.Type != dhcp.StorePostgres {
		return fmt.Sprintf("%s %s", s.Type, d.LeaseFile)
	}
	dsn := "dsn in the config file (hidden)"
	if s.DSNFile != "" {
		dsn = "dsn from " + s.DSNFile
	}
	id := s.ServerID
	if id == "" {
		id = "server_ip"
	}
	return fmt.Sprintf("postgres, %s; server_id %s, heartbeat %s, peer_timeout %s", dsn, id, s.Heartbeat, s.PeerTimeout)
}

// redacted is cfg with the FTP and HTTP users' password hashes and the lease
// database's connection string hidden: check's output gets pasted into
// tickets and chats, a bcrypt hash is still an offline brute-force
// target, and a DSN may hold a password.
func redacted(cfg *Config) *Config {
	c := *cfg
	if c.DHCP.LeaseStore.DSN != "" {
		c.DHCP.LeaseStore.DSN = "(hidden)"
	}
	if c.DHCPv6.LeaseStore.DSN != "" {
		c.DHCPv6.LeaseStore.DSN = "(hidden)"
	}
	c.FTP.Users = slices.Clone(cfg.FTP.Users)
	for i := range c.FTP.Users {
		if c.FTP.Users[i].PasswordHash != "" {
			c.FTP.Users[i].PasswordHash = "(hidden)"
		}
	}
	c.HTTP.Users = slices.Clone(cfg.HTTP.Users)
	for i := range c.HTTP.Users {
		if c.HTTP.Users[i].PasswordHash != "" {
			c.HTTP.Users[i].PasswordHash = "(hidden)"
		}
	}
	return &c
}

// runPasswd reads a password (without echo on a terminal) and prints its
// bcrypt hash for ftp.users[].password_hash and http.users[].password_hash.
func runPasswd(stdin io.Reader, stdout io.Writer) error {
	var pw []byte
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(os.Stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		pw = b
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		pw = []byte(strings.TrimRight(line, "\r\n"))
	}
	if len(pw) == 0 {
		return errors.New("empty password")
	}
	hash, err := bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(hash))
	return nil
}
