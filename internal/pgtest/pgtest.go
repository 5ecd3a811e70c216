// Package pgtest runs a throwaway PostgreSQL server for tests and
// benchmarks: Debian's PostgreSQL binaries (initdb, postgres) run as the
// unprivileged postgres user on a fresh data directory under the system
// temporary directory, listening only on a Unix socket in that directory.
// A Unix socket is a file, so the server is reachable from every network
// namespace on the machine.
//
// The server is a child of the calling process that the kernel kills
// when that process dies (PR_SET_PDEATHSIG), and Sweep removes what
// killed runs left on disk, so a killed test leaves nothing running.
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bin is where Debian's postgresql package installs the server binaries.
const Bin = "/usr/lib/postgresql/15/bin"

// dirPrefix names every cluster directory; the owning process id follows.
const dirPrefix = "bootsrv-pg-"

// Port is the port number in the socket's name (.s.PGSQL.5432): nothing
// listens on TCP, so every cluster can use the default.
const Port = 5432

// Cluster is one running PostgreSQL server.
type Cluster struct {
	// Dir holds the data directory, the socket and the server's log.
	Dir  string
	cred *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan error

	logMu sync.Mutex
	logs  strings.Builder
}

// Available reports why clusters cannot be started here ("" when they
// can): the binaries are missing, or the process is not root (it must
// start the server as the postgres user).
func Available() string {
	if _, err := os.Stat(filepath.Join(Bin, "postgres")); err != nil {
		return "PostgreSQL 15 is not installed (package postgresql)"
	}
	if os.Geteuid() != 0 {
		return "needs root, to run PostgreSQL as the postgres user"
	}
	if _, err := user.Lookup("postgres"); err != nil {
		return "no postgres user"
	}
	return ""
}

// Start sweeps stale clusters, then creates and starts a new one.
// settings are extra server settings (name=value), e.g. "fsync=off".
func Start(settings ...string) (*Cluster, error) {
	if why := Available(); why != "" {
		return nil, errors.New(why)
	}
	Sweep()
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := os.Chown(dir, uid, gid); err != nil {
		c.Remove()
		return nil, err
	}
	// -N: no fsync of the new files; the server itself runs with fsync on.
	initdb := c.command(filepath.Join(Bin, "initdb"), "-A", "trust", "-U", "postgres", "-N", "-D", c.data())
	if out, err := initdb.CombinedOutput(); err != nil {
		c.Remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	conf := "listen_addresses = ''\nunix_socket_directories = '" + dir + "'\nport = " + strconv.Itoa(Port) +
		"\nmax_connections = 200\n"
	for _, s := range settings {
		conf += s + "\n"
	}
	f, err := os.OpenFile(filepath.Join(c.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		f.Close()
	}
	if err != nil {
		c.Remove()
		return nil, err
	}
	if err := c.StartServer(); err != nil {
		c.Remove()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

// command runs a PostgreSQL binary as the postgres user, killed with the
// calling process.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// StartServer starts the server on the cluster and returns once it
// accepts connections (it says so on stderr).
func (c *Cluster) StartServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	cmd := c.command(filepath.Join(Bin, "postgres"), "-D", c.data())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready, exit := make(chan struct{}), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.OnceFunc(func() { close(ready) })
		for sc.Scan() {
			c.logMu.Lock()
			c.logs.WriteString(sc.Text() + "\n")
			c.logMu.Unlock()
			if strings.Contains(sc.Text(), "database system is ready to accept connections") {
				once()
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		exit <- cmd.Wait()
	}()
	select {
	case <-ready:
		c.cmd, c.exit = cmd, exit
		return nil
	case err := <-exit:
		return fmt.Errorf("postgres exited before it was ready: %v\n%s", err, c.Logs())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-exit
		return fmt.Errorf("postgres not ready after 60s\n%s", c.Logs())
	}
}

// StopServer stops the server: SIGINT is a fast shutdown (sessions are
// cut, committed work is on disk), SIGQUIT an immediate one (as after a
// crash: the next start replays the WAL).
func (c *Cluster) StopServer(sig syscall.Signal) error {
	c.mu.Lock()
	cmd, exit := c.cmd, c.exit
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-exit:
		return nil
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-exit
		return errors.New("postgres did not stop within 60s; killed")
	}
}

// Logs is what the server has written to stderr.
func (c *Cluster) Logs() string {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	return c.logs.String()
}

// DSN is a connection string for database db as the postgres user.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", c.Dir, Port, db)
}

// CreateDB creates an empty database.
func (c *Cluster) CreateDB(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// Remove stops the server and deletes the cluster.
func (c *Cluster) Remove() error {
	err := c.StopServer(syscall.SIGQUIT)
	return errors.Join(err, os.RemoveAll(c.Dir))
}

// Sweep deletes the clusters of processes that no longer run (killed
// tests), stopping any server still running on one.
func Sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), dirPrefix), "-", 2)[0])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			if spid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0]); err == nil && spid > 0 {
				syscall.Kill(spid, syscall.SIGQUIT)
			}
		}
		os.RemoveAll(d)
	}
}
