package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bootsrv/bootsrv/internal/pgtest"
)

// env is one run: its work directory, namespaces and the processes it
// started, all removed by close.
type env struct {
	ctx    context.Context
	o      *options
	stderr io.Writer
	work   string // work directory: images, configs, logs
	img    string // the image store every server serves
	srvNS  string // servers, and the TFTP/FTP clients on its loopback
	cliNS  string // perfdhcp, across the veth pair
	nsUp   bool
	bin    string // the bootsrv binary measured
	atftpd string // the unpacked atftpd binary

	files      map[string]file // by name in img
	lossMethod string
	pg         *pgtest.Cluster // the PostgreSQL server of the dhcp-pg row (pg.go)

	mu    sync.Mutex
	procs map[*proc]bool
}

// file is one generated test file and its digest.
type file struct {
	name string
	size int64
	sum  string
}

func newEnv(ctx context.Context, o *options, stderr io.Writer) (*env, error) {
	work, err := os.MkdirTemp("", "bsvbench-")
	if err != nil {
		return nil, err
	}
	// Peers drop privileges (nobody, ftp): the tree must be traversable.
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, err
	}
	id := fmt.Sprintf("bsvbench-%d", os.Getpid())
	return &env{
		ctx: ctx, o: o, stderr: stderr, work: work,
		img: filepath.Join(work, "img"), srvNS: id + "-s", cliNS: id + "-c",
		files: map[string]file{}, procs: map[*proc]bool{},
	}, nil
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// setup builds or finds the binaries, creates the namespaces and writes
// the files the selected rows need.
func (e *env) setup(rows []*row) error {
	if err := e.buildBootsrv(); err != nil {
		return err
	}
	if e.o.rows["tftp"] {
		if err := e.fetchAtftpd(); err != nil {
			return err
		}
	}
	if err := e.netns(); err != nil {
		return err
	}
	if needsPG(rows) {
		if err := e.setupPG(); err != nil {
			return err
		}
	}
	for _, d := range []string{e.img, filepath.Join(e.img, "incoming"), filepath.Join(e.work, "out"), filepath.Join(e.work, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// vsftpd's anonymous uploads are written as the ftp user.
	if err := exec.Command("chown", "ftp", filepath.Join(e.img, "incoming")).Run(); err != nil {
		return fmt.Errorf("chown ftp incoming: %w", err)
	}
	sizes := map[string]int64{"ready.txt": 6}
	for _, r := range rows {
		for name, size := range r.files {
			sizes[name] = size
		}
	}
	for name, size := range sizes {
		if err := e.writeFile(name, size); err != nil {
			return err
		}
	}
	// Write the files back now, so that writeback does not run during the
	// first repetitions (they stay in the page cache for every server).
	syscall.Sync()
	return nil
}

func (e *env) writeFile(name string, size int64) error {
	path := filepath.Join(e.img, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	e.files[name] = file{name: name, size: size, sum: hex.EncodeToString(h.Sum(nil))}
	return nil
}

func (e *env) buildBootsrv() error {
	if e.o.bootsrv != "" {
		abs, err := filepath.Abs(e.o.bootsrv)
		if err != nil {
			return err
		}
		e.bin = abs
		return nil
	}
	e.bin = filepath.Join(e.work, "bootsrv")
	e.logf("building bootsrv (go build -trimpath ./cmd/bootsrv)")
	cmd := exec.CommandContext(e.ctx, "go", "build", "-trimpath", "-o", e.bin, "./cmd/bootsrv")
	cmd.Stdout, cmd.Stderr = e.stderr, e.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building bootsrv (run from the repository root): %w", err)
	}
	return nil
}

// fetchAtftpd unpacks atftpd from its .deb into the cache once: the atftpd
// package conflicts with the atftp client, so it cannot be installed.
func (e *env) fetchAtftpd() error {
	dir, err := filepath.Abs(e.o.cache)
	if err != nil {
		return err
	}
	e.atftpd = filepath.Join(dir, "atftpd", "usr", "sbin", "atftpd")
	if _, err := os.Stat(e.atftpd); err == nil {
		return nil
	}
	e.logf("fetching atftpd: apt-get download atftpd && dpkg-deb -x (into %s)", dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(e.ctx, "apt-get", "download", "atftpd")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, e.stderr, e.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get download atftpd: %w", err)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "atftpd_*.deb"))
	if len(debs) == 0 {
		return errors.New("apt-get download atftpd left no .deb")
	}
	out, err := exec.Command("dpkg-deb", "-x", debs[len(debs)-1], filepath.Join(dir, "atftpd")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("dpkg-deb -x: %v: %s", err, out)
	}
	return nil
}

// netns creates the server namespace (loopback for TFTP/FTP, plus s0 with
// an address: some peers resolve with AI_ADDRCONFIG and fail with only lo)
// and the client namespace at the other end of the veth pair, for DHCP.
func (e *env) netns() error {
	steps := [][]string{
		{"netns", "add", e.srvNS},
		{"netns", "add", e.cliNS},
		{"link", "add", "s0", "netns", e.srvNS, "type", "veth", "peer", "name", "c0", "netns", e.cliNS},
		{"-n", e.srvNS, "addr", "add", "10.64.0.1/10", "dev", "s0"},
		{"-n", e.cliNS, "addr", "add", "10.64.0.2/10", "dev", "c0"},
		{"-n", e.srvNS, "link", "set", "lo", "up"},
		{"-n", e.cliNS, "link", "set", "lo", "up"},
		// IPv6 for the DHCPv6 row: duplicate address detection off, so
		// perfdhcp -6 can bind c0's link-local address at once.
		{"netns", "exec", e.srvNS, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.s0.accept_dad=0"},
		{"netns", "exec", e.cliNS, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.c0.accept_dad=0"},
		{"-n", e.srvNS, "addr", "add", "fd64::1/64", "dev", "s0", "nodad"},
		{"-n", e.srvNS, "link", "set", "s0", "up"},
		{"-n", e.cliNS, "link", "set", "c0", "up"},
	}
	for i, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
		if i == 1 {
			e.nsUp = true
		}
	}
	// The kernel adds c0's link-local address once the pair has carrier;
	// perfdhcp -6 needs it bound.
	for range 100 {
		out, err := exec.Command("ip", "-n", e.cliNS, "-6", "addr", "show", "dev", "c0", "scope", "link").Output()
		if err == nil && strings.Contains(string(out), "inet6 fe80") && !strings.Contains(string(out), "tentative") {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("c0 in %s has no usable link-local address", e.cliNS)
}

// close stops every process still running and deletes the namespaces and,
// unless -keep, the work directory.
func (e *env) close() {
	e.mu.Lock()
	var ps []*proc
	for p := range e.procs {
		ps = append(ps, p)
	}
	e.mu.Unlock()
	for _, p := range ps {
		p.stop()
	}
	if e.pg != nil {
		if err := e.pg.Remove(); err != nil {
			e.logf("removing PostgreSQL: %v", err)
		}
	}
	if e.nsUp {
		for _, ns := range []string{e.srvNS, e.cliNS} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				e.logf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	}
	if e.o.keep {
		e.logf("work directory kept: %s", e.work)
		return
	}
	os.RemoveAll(e.work)
}

// checkTools fails early, naming the Debian package, when a client or
// peer the selected rows need is missing.
func checkTools(o *options) error {
	need := map[string]string{"ip": "iproute2", "nft": "nftables", "apt-get": "apt", "dpkg-deb": "dpkg"}
	if o.bootsrv == "" {
		need["go"] = "the Go toolchain"
	}
	if o.rows["tftp"] {
		need["curl"], need["atftp"], need["in.tftpd"], need["dnsmasq"] = "curl", "atftp", "tftpd-hpa", "dnsmasq-base"
	}
	if o.rows["ftp"] {
		need["curl"], need["vsftpd"] = "curl", "vsftpd"
	}
	if o.rows["dhcp"] {
		need["kea-dhcp4"], need["perfdhcp"], need["ss"] = "kea-dhcp4-server", "kea-admin", "iproute2"
		need["kea-dhcp6"] = "kea-dhcp6-server"
		need["kea-admin"], need["psql"], need[filepath.Join(pgtest.Bin, "postgres")] = "kea-admin", "postgresql-client", "postgresql"
	}
	if o.profile != "" {
		need["perf"] = "linux-perf"
	}
	var missing []string
	for tool, pkg := range need {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (package %s)", tool, pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	return nil
}
