package web

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/bootsrv/bootsrv/internal/cfgerr"
	"github.com/bootsrv/bootsrv/internal/testcert"
)

func hashOf(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// authRoutes are a server's routes of every kind: open ones, the API, the
// console and the store.
func authRoutes() Routes {
	ok := func(body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })
	}
	return Routes{
		Files: ok("FILE"),
		Handlers: map[string]http.Handler{
			"GET /metrics":       ok("METRICS"),
			"GET /healthz":       ok("HEALTH"),
			"GET /api/machines":  ok("MACHINES"),
			"POST /api/reload":   ok("RELOAD"),
			"GET /dhcp/leases":   ok("LEASES"),
			"GET /console/":      ok("CONSOLE"),
			"GET /{$}":           ok("CONSOLE"),
			"GET /console/x/{y}": ok("CONSOLE"),
		},
	}
}

func authGet(t *testing.T, c *http.Client, method, url, user, pass string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestAuth: with users configured, the console, the API and the lease
// list need one of them; /metrics, /healthz and the store do not. Without
// users everything is open.
func TestAuth(t *testing.T) {
	users := []User{{Name: "admin", PasswordHash: hashOf(t, "s3cret")}, {Name: "ops", PasswordHash: hashOf(t, "other")}}
	type call struct{ method, path, user, pass string }
	cases := map[string]struct {
		users []User
		call  call
		code  int
	}{
		"metrics open":             {users, call{"GET", "/metrics", "", ""}, 200},
		"healthz open":             {users, call{"GET", "/healthz", "", ""}, 200},
		"store open":               {users, call{"GET", "/images/a", "", ""}, 200},
		"store open, wrong creds":  {users, call{"GET", "/images/a", "admin", "x"}, 200},
		"api needs a user":         {users, call{"GET", "/api/machines", "", ""}, 401},
		"reload needs a user":      {users, call{"POST", "/api/reload", "", ""}, 401},
		"leases need a user":       {users, call{"GET", "/dhcp/leases", "", ""}, 401},
		"console needs a user":     {users, call{"GET", "/console/", "", ""}, 401},
		"console root":             {users, call{"GET", "/", "", ""}, 401},
		"console subpath":          {users, call{"GET", "/console/x/1", "", ""}, 401},
		"wrong password":           {users, call{"GET", "/api/machines", "admin", "s3cre"}, 401},
		"password of another user": {users, call{"GET", "/api/machines", "admin", "other"}, 401},
		"unknown user":             {users, call{"GET", "/api/machines", "root", "s3cret"}, 401},
		"empty user":               {users, call{"GET", "/api/machines", "", "s3cret"}, 401},
		"right":                    {users, call{"GET", "/api/machines", "admin", "s3cret"}, 200},
		"second user":              {users, call{"GET", "/console/", "ops", "other"}, 200},
		"reload right":             {users, call{"POST", "/api/reload", "ops", "other"}, 200},
		"no users: api open":       {nil, call{"GET", "/api/machines", "", ""}, 200},
		"no users: console open":   {nil, call{"GET", "/", "", ""}, 200},
		"no users: creds ignored":  {nil, call{"GET", "/dhcp/leases", "x", "y"}, 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			addr, _ := newTestServer(t, Config{Users: tc.users, AuthFailureDelay: time.Millisecond}, authRoutes())
			code, body, h := authGet(t, http.DefaultClient, tc.call.method, "http://"+addr+tc.call.path, tc.call.user, tc.call.pass)
			if code != tc.code {
				t.Fatalf("%d %q, want %d", code, body, tc.code)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without a Basic challenge: %v", h)
			}
			if code == 401 && (strings.Contains(body, "$2a$") || strings.Contains(body, "admin")) {
				t.Errorf("401 body tells too much: %q", body)
			}
		})
	}
}

// TestAuthFailures: refusals are counted by reason, and wrong credentials
// wait for the failure delay while a request without any does not.
func TestAuthFailures(t *testing.T) {
	delay := 150 * time.Millisecond
	addr, reg := newTestServer(t, Config{Users: []User{{Name: "admin", PasswordHash: hashOf(t, "pw")}}, AuthFailureDelay: delay}, authRoutes())
	start := time.Now()
	authGet(t, http.DefaultClient, "GET", "http://"+addr+"/api/machines", "admin", "nope")
	if d := time.Since(start); d < delay {
		t.Errorf("wrong credentials answered after %v, before the %v delay", d, delay)
	}
	authGet(t, http.DefaultClient, "GET", "http://"+addr+"/api/machines", "", "")
	authGet(t, http.DefaultClient, "GET", "http://"+addr+"/api/machines", "", "")
	for reason, want := range map[string]float64{authWrongCredentials: 1, authNoCredentials: 2} {
		if got := metricValue(t, reg, "bootsrv_http_auth_failures_total", reason); got != want {
			t.Errorf("failures %s = %v, want %v", reason, got, want)
		}
	}
}

// TestAuthReload: a reload adds and removes users while serving; a
// removed user's remembered login is forgotten at once.
func TestAuthReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, err := New(Config{Users: []User{{Name: "old", PasswordHash: hashOf(t, "pw")}}, AuthFailureDelay: time.Millisecond}, authRoutes(), zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.srv.Handler)
	defer ts.Close()
	try := func(user string) int {
		code, _, _ := authGet(t, ts.Client(), "GET", ts.URL+"/api/machines", user, "pw")
		return code
	}
	if try("old") != 200 || try("old") != 200 || try("new") != 401 {
		t.Fatal("before the reload")
	}
	apply, err := srv.PrepareReload(Config{Users: []User{{Name: "new", PasswordHash: hashOf(t, "pw")}}})
	if err != nil {
		t.Fatal(err)
	}
	if try("old") != 200 {
		t.Fatal("prepare alone changed the users")
	}
	apply()
	if try("old") != 401 || try("new") != 200 {
		t.Error("after the reload: the old user still in, or the new one out")
	}
	if _, err := srv.PrepareReload(Config{Users: []User{{Name: "bad", PasswordHash: "plaintext"}}}); err == nil {
		t.Error("a plaintext password was accepted")
	}
}

// TestTLS: with http.tls the address speaks HTTPS only, and basic auth
// goes over it.
func TestTLS(t *testing.T) {
	cert, key := testcert.Write(t)
	addr, _ := newTestServer(t, Config{TLS: TLS{Cert: cert, Key: key}, Users: []User{{Name: "admin", PasswordHash: hashOf(t, "pw")}}}, authRoutes())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	if code, _, _ := authGet(t, c, "GET", "https://"+addr+"/api/machines", "admin", "pw"); code != 200 {
		t.Errorf("HTTPS with credentials: %d", code)
	}
	if code, _, _ := authGet(t, c, "GET", "https://"+addr+"/metrics", "", ""); code != 200 {
		t.Errorf("HTTPS /metrics: %d", code)
	}
	if code, _, _ := authGet(t, http.DefaultClient, "GET", "http://"+addr+"/metrics", "", ""); code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS address: %d, want 400", code)
	}
}

func TestUsersValidate(t *testing.T) {
	good := hashOf(t, "pw")
	cases := map[string]struct {
		cfg Config
		key string // "" for valid
	}{
		"none":          {Config{}, ""},
		"one":           {Config{Users: []User{{Name: "a", PasswordHash: good}}}, ""},
		"no name":       {Config{Users: []User{{PasswordHash: good}}}, "users[0].name"},
		"colon":         {Config{Users: []User{{Name: "a:b", PasswordHash: good}}}, "users[0].name"},
		"duplicate":     {Config{Users: []User{{Name: "a", PasswordHash: good}, {Name: "a", PasswordHash: good}}}, "users[1].name"},
		"plaintext":     {Config{Users: []User{{Name: "a", PasswordHash: "hunter2"}}}, "users[0].password_hash"},
		"no hash":       {Config{Users: []User{{Name: "a"}}}, "users[0].password_hash"},
		"cert, no key":  {Config{TLS: TLS{Cert: "c.pem"}}, "tls"},
		"key, no cert":  {Config{TLS: TLS{Key: "k.pem"}}, "tls"},
		"negative wait": {Config{AuthFailureDelay: -time.Second}, "auth_failure_delay"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.WithDefaults().Validate()
			var ce *cfgerr.Error
			switch {
			case tc.key == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.key != "" && (!errors.As(err, &ce) || ce.Key != tc.key):
				t.Fatalf("error %v, want one for %s", err, tc.key)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("the error quotes the password: %v", err)
			}
		})
	}
}

// FuzzAuthorization: whatever Authorization header comes in, only the
// right user and password pass, and nothing panics.
func FuzzAuthorization(f *testing.F) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	a, err := newAuthenticator(zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	st, err := prepareAuth([]User{{Name: "admin", PasswordHash: string(hash)}}, 0)
	if err != nil {
		f.Fatal(err)
	}
	a.set(st)
	right := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pw"))
	for _, s := range []string{right, "Basic", "Basic ", "basic YWRtaW46cHc=", "Basic YWRtaW46", "Basic ::::", "Bearer x", "Basic YWRtaW46cHcA"} {
		f.Add(s)
	}
	h := a.require(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "IN") }))
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/api/x", nil)
		r.Header.Set("Authorization", header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		user, pass, ok := r.BasicAuth()
		want := ok && user == "admin" && pass == "pw"
		if (w.Code == 200) != want {
			t.Fatalf("header %q: %d, want in=%v", header, w.Code, want)
		}
	})
}
