package ingress_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// clientCert is a self-signed client certificate and its PEM, which a
// server can trust as its own CA.
func clientCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	cert, leaf := testutil.SelfSignedClientCert(t, "client")
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
}

// serveWithOptions serves a table with set on a websecure entry point.
func serveWithOptions(t *testing.T, set *ingress.TLSOptionSet, certs []tls.Certificate) (*ingress.Table, string) {
	t.Helper()
	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog, TLSOptions: set})
	p := ingress.NewProxy(table, ingress.Options{EntryPoint: ingress.EntryPointWebSecure, ErrorLog: quietLog})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.ServeTLS(ln, &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = p.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
		table.Close()
	})
	return table, ln.Addr().String()
}

// tlsGet handshakes with cfg and sends one HTTP/1.1 GET for host; the
// connection state, and the status and body or the error.
func tlsGet(addr string, cfg *tls.Config, host string) (tls.ConnectionState, string, error) {
	d := &net.Dialer{Timeout: testTimeout}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	st := c.ConnectionState()
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host); err != nil {
		return st, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return st, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return st, fmt.Sprintf("%d %s", resp.StatusCode, b), nil
}

const testTLSOptions = `
tls:
  options:
    default:
      minVersion: VersionTLS13
    legacy:
      minVersion: VersionTLS12
      maxVersion: VersionTLS12
      cipherSuites:
        - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
      curvePreferences: [CurveP384]
      alpnProtocols: [http/1.1]
    mtls:
      clientAuth:
        caFiles: [client-ca.pem]
        clientAuthType: RequireAndVerifyClientCert
    strict:
      sniStrict: true
`

// Each handshake gets the TLS options of the routers whose Host rules
// name its server name: versions, cipher suite, curve, ALPN, client
// certificates and sniStrict as the file says; a router naming options
// the node lacks answers 503 naming the label; routers of one host with
// different options give it the default ones; and a request whose Host
// has other options than its connection is answered 421.
func TestTLSOptionsPerServerName(t *testing.T) {
	ccert, caPEM := clientCert(t)
	set, err := ingress.ParseTLSOptions([]byte(testTLSOptions), func(name string) ([]byte, error) {
		if name != "client-ca.pem" {
			return nil, os.ErrNotExist
		}
		return caPEM, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"def.example", "legacy.example", "mtls.example", "strict.example", "missing.example", "both.example"}
	cert, leaf := testutil.SelfSignedCert(t, names...)
	table, addr := serveWithOptions(t, set, []tls.Certificate{cert})
	b := startBackend(t, "a", nil)
	table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.def.rule=Host(`def.example`)", "traefik.http.routers.def.tls=true",
		"traefik.http.routers.legacy.rule=Host(`legacy.example`)", "traefik.http.routers.legacy.tls.options=legacy@file",
		"traefik.http.routers.mtls.rule=Host(`mtls.example`)", "traefik.http.routers.mtls.tls.options=mtls",
		"traefik.http.routers.strict.rule=Host(`strict.example`) || Host(`nocert.example`)", "traefik.http.routers.strict.tls.options=strict",
		"traefik.http.routers.missing.rule=Host(`missing.example`)", "traefik.http.routers.missing.tls.options=nope",
		"traefik.http.routers.both1.rule=Host(`both.example`)", "traefik.http.routers.both1.tls.options=legacy",
		"traefik.http.routers.both2.rule=Host(`both.example`) && Path(`/x`)", "traefik.http.routers.both2.tls.options=mtls",
		"traefik.http.services.s.loadbalancer.server.port=80"))}, []*api.Task{task("t1", "s1", b.addr())})
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	client := func(name string) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: name, NextProtos: []string{"http/1.1"}}
	}

	st, got, err := tlsGet(addr, client("def.example"), "def.example")
	if err != nil || st.Version != tls.VersionTLS13 || !strings.HasPrefix(got, "200") {
		t.Errorf("default options: %v %x %q, want TLS 1.3 and 200", err, st.Version, got)
	}
	old := client("def.example")
	old.MaxVersion = tls.VersionTLS12
	if _, _, err := tlsGet(addr, old, "def.example"); err == nil {
		t.Error("a TLS 1.2 client got past the default options' minVersion VersionTLS13")
	}

	h2 := client("legacy.example")
	h2.NextProtos = []string{"h2", "http/1.1"}
	st, got, err = tlsGet(addr, h2, "legacy.example")
	switch {
	case err != nil:
		t.Errorf("legacy: %v", err)
	case st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 ||
		st.CurveID != tls.CurveP384 || st.NegotiatedProtocol != "http/1.1" || !strings.HasPrefix(got, "200"):
		t.Errorf("legacy: version %x suite %s curve %v ALPN %q: %q", st.Version, tls.CipherSuiteName(st.CipherSuite), st.CurveID, st.NegotiatedProtocol, got)
	}

	if _, got, err := tlsGet(addr, client("mtls.example"), "mtls.example"); err == nil {
		t.Errorf("mtls without a client certificate: %q", got)
	}
	withCert := client("mtls.example")
	withCert.Certificates = []tls.Certificate{ccert}
	if _, got, err := tlsGet(addr, withCert, "mtls.example"); err != nil || !strings.HasPrefix(got, "200") {
		t.Errorf("mtls with a client certificate: %v %q", err, got)
	}
	// Domain fronting: a connection made for def.example (no client
	// certificate asked) cannot reach mtls.example's router.
	if _, got, err := tlsGet(addr, client("def.example"), "mtls.example"); err != nil || !strings.HasPrefix(got, "421") {
		t.Errorf("Host mtls.example over a def.example connection: %v %q, want 421", err, got)
	}

	if _, _, err := tlsGet(addr, client("strict.example"), "strict.example"); err != nil {
		t.Errorf("sniStrict with a certificate for the name: %v", err)
	}
	if _, _, err := tlsGet(addr, client("nocert.example"), "nocert.example"); err == nil {
		t.Error("sniStrict served a name no certificate holds")
	}

	if _, got, err := tlsGet(addr, client("missing.example"), "missing.example"); err != nil ||
		!strings.HasPrefix(got, "503") || !strings.Contains(got, "traefik.http.routers.missing.tls.options") {
		t.Errorf("unknown options: %v %q, want 503 naming the label", err, got)
	}
	refused := false
	for _, r := range table.Routes() {
		if r.Router == "missing" {
			refused = strings.Contains(r.Refused, `no TLS options "nope"`)
		}
	}
	if !refused {
		t.Error("Routes does not show the router with unknown options refused")
	}

	st, _, err = tlsGet(addr, client("both.example"), "both.example")
	if err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("conflicting options: %v version %x, want the default options (TLS 1.3)", err, st.Version)
	}
}

// sniStrict on the default options refuses a handshake without a
// server name.
func TestTLSOptionsSNIStrictDefault(t *testing.T) {
	set, err := ingress.ParseTLSOptions([]byte("tls:\n  options:\n    default:\n      sniStrict: true\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, leaf := testutil.SelfSignedCert(t, "a.example", "127.0.0.1")
	_, addr := serveWithOptions(t, set, []tls.Certificate{cert})
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	if _, _, err := tlsGet(addr, &tls.Config{RootCAs: roots, ServerName: "a.example"}, "a.example"); err != nil {
		t.Errorf("with a server name: %v", err)
	}
	// An IP address sends no SNI.
	if _, _, err := tlsGet(addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}, "x"); err == nil {
		t.Error("sniStrict let a handshake without a server name through")
	}
}

// The file's errors name the field; weak settings are allowed with a
// warning, as Traefik allows them.
func TestParseTLSOptions(t *testing.T) {
	_, caPEM := clientCert(t)
	read := func(name string) ([]byte, error) {
		if name == "ca.pem" {
			return caPEM, nil
		}
		return nil, fmt.Errorf("open %s: %w", name, os.ErrNotExist)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"unknown field", "tls:\n  options:\n    a:\n      minversion: VersionTLS12\n", "minversion"},
		{"http section", "http:\n  routers: {}\n", "http"},
		{"version", "tls:\n  options:\n    a:\n      minVersion: TLS12\n", "tls.options.a.minVersion: unknown version"},
		{"max below min", "tls:\n  options:\n    a:\n      minVersion: VersionTLS13\n      maxVersion: VersionTLS12\n", "tls.options.a.maxVersion"},
		{"suite", "tls:\n  options:\n    a:\n      cipherSuites: [TLS_NOPE]\n", `tls.options.a.cipherSuites: unknown cipher suite "TLS_NOPE"`},
		{"curve", "tls:\n  options:\n    a:\n      curvePreferences: [P-999]\n", "tls.options.a.curvePreferences"},
		{"auth type", "tls:\n  options:\n    a:\n      clientAuth:\n        clientAuthType: Always\n", "tls.options.a.clientAuth.clientAuthType"},
		{"verify without CA", "tls:\n  options:\n    a:\n      clientAuth:\n        clientAuthType: RequireAndVerifyClientCert\n", "needs clientAuth.caFiles"},
		{"missing CA file", "tls:\n  options:\n    a:\n      clientAuth:\n        caFiles: [nope.pem]\n", "tls.options.a.clientAuth.caFiles"},
		{"bad name", "tls:\n  options:\n    a@file:\n      sniStrict: true\n", "invalid name"},
		{"default twice", "tls:\n  options:\n    default: {}\n    default@internal: {}\n", "invalid name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ingress.ParseTLSOptions([]byte(tc.file), read)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	set, err := ingress.ParseTLSOptions([]byte(`
tls:
  options:
    old:
      minVersion: VersionTLS10
      cipherSuites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_AES_128_GCM_SHA256]
    mtls:
      clientAuth:
        caFiles: [ca.pem]
`), read)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Warnings) != 3 {
		t.Errorf("warnings %q, want TLS 1.0, an insecure suite and TLS 1.3's suites", set.Warnings)
	}
	if o := set.Lookup("old@file"); o == nil || o.MinVersion != tls.VersionTLS10 || len(o.CipherSuites) != 1 {
		t.Errorf("old@file: %+v", o)
	}
	if o := set.Lookup("mtls"); o == nil || o.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("caFiles alone: %+v, want RequireAndVerifyClientCert (Traefik's)", o)
	}
	if o := set.Lookup("default@internal"); o == nil || o.MinVersion != tls.VersionTLS12 {
		t.Errorf("default without an entry: %+v, want TLS 1.2 and up", o)
	}
}

// FuzzParseTLSOptions checks that no file makes the parser panic and
// that what it accepts has a default entry and sane versions.
func FuzzParseTLSOptions(f *testing.F) {
	f.Add([]byte(testTLSOptions))
	f.Add([]byte("tls:\n  options:\n    default:\n      sniStrict: true\n"))
	f.Add([]byte("tls: {options: {a: {minVersion: VersionTLS10, alpnProtocols: [h2]}}}"))
	f.Add([]byte("tls:\n  options:\n    a: &x\n      minVersion: VersionTLS12\n    b: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ingress.ParseTLSOptions(data, func(string) ([]byte, error) { return nil, os.ErrNotExist })
		if err != nil {
			return
		}
		for _, n := range set.Names() {
			o := set.Lookup(n)
			if o == nil || o.MinVersion < tls.VersionTLS10 || o.MaxVersion != 0 && o.MaxVersion < o.MinVersion {
				t.Fatalf("option %q: %+v", n, o)
			}
		}
		if set.Lookup("default") == nil {
			t.Fatal("no default options")
		}
	})
}
