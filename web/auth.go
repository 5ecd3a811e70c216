package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/bootsrv/bootsrv/internal/logsample"
)

// openPaths are the routes that never ask for credentials: scrapers and
// health checks reach them as before, like the image store, which is
// routed before the mux.
var openPaths = []string{"/metrics", "/healthz"}

// Reasons of bootsrv_http_auth_failures_total.
const (
	authNoCredentials    = "no_credentials"
	authWrongCredentials = "wrong_credentials"
)

// Successful logins are remembered this long (cacheTTL), at most
// cacheSize of them, so that a console refreshing every few seconds costs
// one bcrypt comparison per user and period, not one per request.
const (
	cacheTTL  = 5 * time.Minute
	cacheSize = 1024
)

// authenticator checks HTTP basic auth (RFC 7617) against http.users.
type authenticator struct {
	state    atomic.Pointer[authState]
	log      zerolog.Logger
	logged   *logsample.Sampler
	failures *prometheus.CounterVec

	key   [32]byte // HMAC key of the cache: the cache never holds a password
	mu    sync.Mutex
	cache map[[32]byte]time.Time // HMAC of user, password and hash -> expiry
}

// authState is what a reload swaps: the accounts and the failure delay.
type authState struct {
	accounts []account
	dummy    []byte // a hash to compare with when the user is unknown
	delay    time.Duration
}

type account struct {
	name [32]byte // SHA-256 of the name, compared in constant time
	user string
	hash []byte
}

func newAuthenticator(log zerolog.Logger, reg prometheus.Registerer) (*authenticator, error) {
	a := &authenticator{log: log, logged: logsample.New(time.Second), cache: map[[32]byte]time.Time{},
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bootsrv_http_auth_failures_total",
			Help: "Requests to the console or the API refused with 401 by reason: no_credentials (a browser's first request) or wrong_credentials.",
		}, []string{"reason"})}
	for _, r := range []string{authNoCredentials, authWrongCredentials} {
		a.failures.WithLabelValues(r)
	}
	if err := reg.Register(a.failures); err != nil {
		return nil, fmt.Errorf("http metrics: %w", err)
	}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, err
	}
	return a, nil
}

// prepare builds the state for users: one bcrypt hash (the dummy, at the
// cost of the first user's hash) when there are users.
func prepareAuth(users []User, delay time.Duration) (*authState, error) {
	st := &authState{delay: delay}
	if len(users) == 0 {
		return st, nil
	}
	cost, err := bcrypt.Cost([]byte(users[0].PasswordHash))
	if err != nil {
		return nil, err
	}
	var pw [16]byte
	rand.Read(pw[:])
	if st.dummy, err = bcrypt.GenerateFromPassword(pw[:], cost); err != nil {
		return nil, err
	}
	for _, u := range users {
		st.accounts = append(st.accounts, account{name: sha256.Sum256([]byte(u.Name)), user: u.Name, hash: []byte(u.PasswordHash)})
	}
	return st, nil
}

// set puts st in effect and forgets every remembered login.
func (a *authenticator) set(st *authState) {
	a.state.Store(st)
	a.mu.Lock()
	clear(a.cache)
	a.mu.Unlock()
}

// on reports whether any user is configured, so credentials are needed.
func (a *authenticator) on() bool { return len(a.state.Load().accounts) > 0 }

// check returns the user that the request's credentials name, if they
// are right. Every account's name is compared, in constant time, and an
// unknown user costs a bcrypt comparison too, so timing tells neither
// which names exist nor how much of a password was right.
func (a *authenticator) check(r *http.Request) (string, bool) {
	name, pass, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	st := a.state.Load()
	nh := sha256.Sum256([]byte(name))
	var found *account
	for i := range st.accounts {
		if subtle.ConstantTimeCompare(nh[:], st.accounts[i].name[:]) == 1 {
			found = &st.accounts[i]
		}
	}
	hash := st.dummy
	if found != nil {
		hash = found.hash
	}
	mac := hmac.New(sha256.New, a.key[:])
	for _, s := range []string{name, pass, string(hash)} {
		mac.Write([]byte(s))
		mac.Write([]byte{0})
	}
	var key [32]byte
	mac.Sum(key[:0])
	if found != nil && a.remembered(key) {
		return found.user, true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || found == nil {
		return "", false
	}
	a.remember(key)
	return found.user, true
}

func (a *authenticator) remembered(key [32]byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.cache[key]
	return ok && time.Now().Before(exp)
}

func (a *authenticator) remember(key [32]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if len(a.cache) >= cacheSize {
		for k, exp := range a.cache {
			if !now.Before(exp) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= cacheSize {
			clear(a.cache)
		}
	}
	a.cache[key] = now.Add(cacheTTL)
}

// require serves next only to requests with a configured user's
// credentials, while any user is configured. Wrong credentials are
// answered after the failure delay, so that guessing is slow; a request
// without any (a browser's first) is answered at once, with the
// challenge that makes the browser ask.
func (a *authenticator) require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.on() {
			next.ServeHTTP(w, r)
			return
		}
		if _, ok := a.check(r); ok {
			next.ServeHTTP(w, r)
			return
		}
		reason := authNoCredentials
		if _, _, sent := r.BasicAuth(); sent || r.Header.Get("Authorization") != "" {
			reason = authWrongCredentials
			if ok, n := a.logged.Allow(time.Now()); ok {
				a.log.Warn().Str("peer", r.RemoteAddr).Str("path", r.URL.Path).Int("suppressed", n).
					Msg("http: wrong credentials refused")
			}
			wait(r.Context(), a.state.Load().delay)
		}
		a.failures.WithLabelValues(reason).Inc()
		w.Header().Set("WWW-Authenticate", `Basic realm="bootsrv", charset="UTF-8"`)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "401 Unauthorized: sign in as one of http.users", http.StatusUnauthorized)
	})
}

// wait pauses for d, or until the client has gone.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// isOpen reports whether a mux pattern ("GET /metrics") is one of
// openPaths.
func isOpen(pattern string) bool {
	path := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		path = strings.TrimSpace(pattern[i+1:])
	}
	for _, p := range openPaths {
		if path == p {
			return true
		}
	}
	return false
}

// checkHash accepts only bcrypt hashes, so a plaintext password pasted into
// the config is refused at start instead of never matching.
func checkHash(h string) error {
	if h == "" {
		return errors.New("required (bootsrv passwd prints one)")
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return errors.New("not a bcrypt hash (bootsrv passwd prints one)")
	}
	return nil
}
