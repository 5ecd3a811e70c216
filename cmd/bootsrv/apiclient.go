package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"time"
)

// Environment variables of the commands that ask a running server (reload,
// machines, leases, explain) when http.users is set: the password is never
// a flag, which every user of the machine could read in the process list.
const (
	envUser     = "BOOTSRV_USER"
	envPassword = "BOOTSRV_PASSWORD"
)

// errUnauthorized is a 401 from the server, said in terms of what to do.
var errUnauthorized = errors.New("the server needs a user of http.users: give -user NAME (or " + envUser +
	") with the password in " + envPassword)

// userFlag adds -user to a command that asks the running server.
func userFlag(fs *flag.FlagSet) *string {
	return fs.String("user", os.Getenv(envUser), "a `NAME` of the server's http.users, with the password in $"+envPassword+" (default $"+envUser+")")
}

// serverAPI is how a command reaches a running bootsrv's HTTP address.
type serverAPI struct {
	base string // http://127.0.0.1:8080, or https:// with http.tls
	http *http.Client
}

// newServerAPI reaches the server listening on listen (http.listen); with
// tlsCert (http.tls.cert) it speaks HTTPS and trusts exactly that
// certificate, which a command on the same host can read, whatever name
// the certificate is for. With user, requests carry basic auth with the
// password from $BOOTSRV_PASSWORD.
func newServerAPI(listen, tlsCert, user string, timeout time.Duration) (*serverAPI, error) {
	base, err := localURL(listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the server is on this host
	if tlsCert != "" {
		base = "https" + base[len("http"):]
		conf, err := pinnedTLS(tlsCert)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = conf
	}
	var rt http.RoundTripper = tr
	if user != "" {
		pw, ok := os.LookupEnv(envPassword)
		if !ok {
			return nil, fmt.Errorf("-user %s: set the password in $%s", user, envPassword)
		}
		rt = basicAuth{next: tr, user: user, password: pw}
	}
	return &serverAPI{base: base, http: &http.Client{Timeout: timeout, Transport: unauthorized{rt}}}, nil
}

// pinnedTLS trusts the certificate in file alone: the server's own, as its
// config names it.
func pinnedTLS(file string) (*tls.Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("http.tls.cert: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("http.tls.cert: %s holds no PEM certificate", file)
	}
	want := block.Bytes
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The certificate is compared byte for byte below, which is
		// stricter than a chain and name check.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return errors.New("the server's certificate is not the one http.tls.cert names")
			}
			return nil
		},
	}, nil
}

type basicAuth struct {
	next           http.RoundTripper
	user, password string
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return b.next.RoundTrip(r)
}

// unauthorized turns a 401 into errUnauthorized.
type unauthorized struct{ next http.RoundTripper }

func (u unauthorized) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := u.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		return nil, errUnauthorized
	}
	return resp, err
}

// localURL is the base URL this host reaches an HTTP server listening on
// listen at: a wildcard address is reached on loopback. A link-local
// address keeps its zone, written "%25zone" (RFC 6874): read on this
// host, it names the interface to use.
func localURL(listen string) (string, error) {
	if listen == "off" {
		return "", errors.New("off: the running server is asked over HTTP; turn it on")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() != "" {
		return "http://[" + a.WithZone("").String() + "%25" + url.PathEscape(a.Zone()) + "]:" + port, nil
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
