package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bootsrv/bootsrv/internal/testcert"
)

// lockedBuffer is a log sink tests read while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// runServer runs serve with the config file until the test ends and
// returns the HTTP address it listens on, read from its "listening" log
// line, and its log.
func runServer(t *testing.T, file string) (string, *lockedBuffer) {
	t.Helper()
	fl := &serveFlags{configFile: file, set: map[string]string{}}
	cfg, err := loadConfig(file, fl)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, fl, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Service, Addr, Message string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Service == "http" && l.Message == "listening" {
				return l.Addr, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no http listening line:\n%s", logs.String())
		}
	}
}

func bcryptOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

const consoleYAML = `images: {root: ROOT}
log: {level: info, format: json}
tftp: {listen: "127.0.0.1:0"}
ftp:
  listen: "127.0.0.1:0"
  users:
    - {name: netops, password_hash: "FTPHASH", write: true}
http:
  listen: "127.0.0.1:0"
  auth_failure_delay: 1ms
  tls: {cert: CERT, key: KEY}
  users:
    - {name: admin, password_hash: "HTTPHASH"}
`

// TestConsoleSecrets: with http.users and http.tls, the console and the
// API need a user over HTTPS, /metrics and /healthz do not, and no route,
// before or after reloads (one of them refused for a bad lease database
// DSN), ever shows a password hash, a DSN's password or the TLS key. The
// CLIs get in with -user and $BOOTSRV_PASSWORD, trusting the configured
// certificate.
func TestConsoleSecrets(t *testing.T) {
	cert, key := testcert.Write(t)
	keyPEM, _ := os.ReadFile(key)
	ftpHash, httpHash, newHash := bcryptOf(t, "ftp-pw"), bcryptOf(t, "pw"), bcryptOf(t, "pw2")
	body := strings.NewReplacer("FTPHASH", ftpHash, "HTTPHASH", httpHash, "CERT", cert, "KEY", key).Replace(consoleYAML)
	file := writeConfig(t, body)
	written, _ := os.ReadFile(file)
	body = string(written)
	addr, logs := runServer(t, file)
	base := "https://" + addr
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	fetch := func(method, path, user, pw string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	secrets := []string{ftpHash, httpHash, newHash, "SECRETPW", string(keyPEM[40:80]), "PRIVATE KEY"}
	routes := []string{"/", "/console/", "/console/live", "/console/machines", "/console/leases", "/console/uploads",
		"/console/explain?mac=52:54:00:12:34:56", "/api/machines", "/api/explain?mac=52:54:00:12:34:56", "/metrics", "/healthz"}
	check := func(when, user, pw string) {
		t.Helper()
		for _, p := range routes {
			code, b := fetch("GET", p, user, pw)
			if code != 200 && !(p == "/healthz" && code == 503) {
				t.Errorf("%s: GET %s: %d %.200s", when, p, code, b)
			}
			for _, s := range secrets {
				if strings.Contains(b, s) {
					t.Errorf("%s: GET %s shows a secret (%.20s...)", when, p, s)
				}
			}
		}
	}
	for path, open := range map[string]bool{"/": false, "/console/leases": false, "/api/machines": false,
		"/api/explain?mac=52:54:00:12:34:56": false, "/metrics": true, "/healthz": true} {
		code, _ := fetch("GET", path, "", "")
		if open != (code != 401) {
			t.Errorf("GET %s without credentials: %d", path, code)
		}
		if code, _ := fetch("GET", path, "admin", "wrong"); !open && code != 401 {
			t.Errorf("GET %s with a wrong password: %d", path, code)
		}
	}
	check("at start", "admin", "pw")
	var checkOut bytes.Buffer
	if err := runCheck([]string{"-config", file}, &checkOut, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(checkOut.String(), s) {
			t.Errorf("bootsrv check shows a secret (%.20s...)", s)
		}
	}

	// A reload that changes the hashes: live for http.users.
	os.WriteFile(file, []byte(strings.ReplaceAll(strings.ReplaceAll(body, httpHash, newHash), ftpHash, newHash)), 0o644)
	code, b := fetch("POST", "/api/reload", "admin", "pw")
	if code != 200 || !strings.Contains(b, "http.users[0].password_hash") {
		t.Fatalf("reload: %d %s", code, b)
	}
	if code, _ := fetch("GET", "/console/", "admin", "pw"); code != 401 {
		t.Errorf("the old password still works after the reload: %d", code)
	}
	check("after a reload", "admin", "pw2")
	if _, b := fetch("GET", "/console/", "admin", "pw2"); !strings.Contains(b, "http.users[0].password_hash") {
		t.Errorf("the overview does not show the last reload's keys:\n%s", b)
	}

	// A reload refused for a DSN pgx cannot parse.
	bad := strings.ReplaceAll(body, httpHash, newHash) + `dhcp:
  mode: server
  interface: lo
  server_ip: 127.0.0.1
  pools: [{subnet: 127.0.0.0/8, range: 127.0.0.100-127.0.0.200}]
  lease_store: {type: postgres, dsn: "postgres://u:SECRETPW@db:99999999/x?sslmode=bogus"}
`
	os.WriteFile(file, []byte(bad), 0o644)
	code, b = fetch("POST", "/api/reload", "admin", "pw2")
	if strings.Contains(b, "SECRETPW") {
		t.Errorf("the reload's answer shows the DSN's password: %s", b)
	}
	t.Logf("reload with a bad DSN: %d %s", code, b)
	check("after a refused reload", "admin", "pw2")
	if strings.Contains(logs.String(), "SECRETPW") || strings.Contains(logs.String(), httpHash) {
		t.Errorf("the log shows a secret")
	}

	// The CLIs, as an admin on the server's host runs them.
	os.WriteFile(file, []byte(strings.ReplaceAll(body, httpHash, newHash)), 0o644)
	var out, errOut bytes.Buffer
	t.Setenv(envPassword, "pw2")
	if err := runReload(context.Background(), []string{"-config", file, "-http-addr", addr, "-user", "admin"}, &out, &errOut); err != nil {
		t.Errorf("bootsrv reload -user admin: %v\n%s", err, errOut.String())
	}
	if err := runReload(context.Background(), []string{"-config", file, "-http-addr", addr}, &out, &errOut); !errors.Is(err, errUnauthorized) {
		t.Errorf("bootsrv reload without a user: %v, want errUnauthorized", err)
	}
	t.Setenv(envPassword, "nope")
	if err := runReload(context.Background(), []string{"-config", file, "-http-addr", addr, "-user", "admin"}, &out, &errOut); !errors.Is(err, errUnauthorized) {
		t.Errorf("bootsrv reload with a wrong password: %v", err)
	}
	other, _ := testcert.Write(t)
	if _, err := pinnedTLS(other); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envPassword, "pw2")
	os.WriteFile(file, []byte(strings.ReplaceAll(strings.ReplaceAll(body, httpHash, newHash), cert, other)), 0o644)
	if err := runReload(context.Background(), []string{"-config", file, "-http-addr", addr, "-user", "admin"}, &out, &errOut); err == nil ||
		!strings.Contains(err.Error(), "not the one http.tls.cert names") {
		t.Errorf("bootsrv reload trusting another certificate: %v", err)
	}
}

// TestIsLoopback: the start-up warning about an open console is left out
// only for an address no other host reaches.
func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:80": true, "[::1]:8080": true,
		"0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.1:8080": false, "192.168.1.5:80": false, "bogus": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
