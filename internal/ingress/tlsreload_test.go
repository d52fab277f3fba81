package ingress_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// replaceFile writes data to path as editors do: a new file renamed
// into place.
func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// reloadEnv is a websecure entry point whose TLS options come from
// files in a temporary folder, with a router on a.example naming
// options mtls, and one on d.example with the default options.
type reloadEnv struct {
	t                 *testing.T
	dir, opts, caFile string
	files             ingress.TLSFiles
	table             *ingress.Table
	addr              string
	roots             *x509.CertPool
	ccert             tls.Certificate
	log               *testutil.SyncBuffer
	reloader          *ingress.TLSReloader
	kick              chan struct{}
}

func newReloadEnv(t *testing.T, initial string) *reloadEnv {
	t.Helper()
	e := &reloadEnv{t: t, dir: t.TempDir(), log: &testutil.SyncBuffer{}, kick: make(chan struct{})}
	e.opts = filepath.Join(e.dir, "tls.yml")
	e.caFile = filepath.Join(e.dir, "ca.pem")
	var caPEM []byte
	e.ccert, caPEM = clientCert(t)
	if err := os.WriteFile(e.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.opts, []byte(e.expand(initial)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.files = ingress.TLSFiles{Options: e.opts}
	set, err := e.files.Load()
	if err != nil {
		t.Fatal(err)
	}
	cert, leaf := testutil.SelfSignedCert(t, "a.example", "d.example")
	e.table, e.addr = serveWithOptions(t, set, []tls.Certificate{cert})
	e.roots = x509.NewCertPool()
	e.roots.AddCert(leaf)
	b := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.a.rule=Host(`a.example`)", "traefik.http.routers.a.tls.options=mtls",
		"traefik.http.routers.d.rule=Host(`d.example`)", "traefik.http.routers.d.tls=true",
		"traefik.http.services.s.loadbalancer.server.port=80"))}, []*api.Task{task("t1", "s1", b.addr())})
	e.reloader = &ingress.TLSReloader{Files: e.files, Table: e.table,
		Log: slog.New(slog.NewTextHandler(e.log, nil)), Debounce: 20 * time.Millisecond}
	return e
}

// expand puts the CA file's path in for CA.
func (e *reloadEnv) expand(s string) string { return strings.ReplaceAll(s, "CA", e.caFile) }

// run runs the reloader until the test ends.
func (e *reloadEnv) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.reloader.Run(ctx, e.kick) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
}

// client is a client configuration for name, with the client
// certificate when cert, and at most TLS maxVersion when not 0.
func (e *reloadEnv) client(name string, cert bool, maxVersion uint16) *tls.Config {
	c := &tls.Config{RootCAs: e.roots, ServerName: name, NextProtos: []string{"http/1.1"}, MaxVersion: maxVersion}
	if cert {
		c.Certificates = []tls.Certificate{e.ccert}
	}
	return c
}

// get is the status line start and body of one GET on a new connection,
// or "handshake failed".
func (e *reloadEnv) get(name string, cert bool, maxVersion uint16) string {
	_, got, err := tlsGet(e.addr, e.client(name, cert, maxVersion), name)
	if err != nil {
		return "handshake failed"
	}
	return got
}

const (
	// reloadV1: TLS 1.2 and up, mtls asks for no certificate.
	reloadV1 = "tls:\n  options:\n    mtls:\n      minVersion: VersionTLS12\n"
	// reloadV2: TLS 1.3 only by default, mtls requires a certificate of CA.
	reloadV2 = "tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n    mtls:\n      clientAuth:\n        caFiles: [CA]\n"
	// reloadV3: no mtls.
	reloadV3 = "tls:\n  options:\n    other: {}\n"
)

// The TLS options change without a restart, by a kick (SIGHUP) and by
// a file renamed into place: new handshakes get the new minVersion,
// clientAuth added then removed takes effect, and a router whose
// options are gone answers 503 naming the label, then serves again once
// they are back.
func TestTLSOptionsReload(t *testing.T) {
	for _, how := range []string{"kick", "file"} {
		t.Run(how, func(t *testing.T) {
			e := newReloadEnv(t, reloadV1)
			if how == "kick" {
				// Only the kick reads the file: the watch waits too long.
				e.reloader.Debounce = time.Hour
			}
			e.run()
			change := func(data string) {
				t.Helper()
				if how == "file" {
					replaceFile(t, e.opts, e.expand(data))
					return
				}
				if err := os.WriteFile(e.opts, []byte(e.expand(data)), 0o600); err != nil {
					t.Fatal(err)
				}
				e.kick <- struct{}{}
			}
			if got := e.get("d.example", false, tls.VersionTLS12); !strings.HasPrefix(got, "200") {
				t.Fatalf("before: TLS 1.2 to the default options: %q", got)
			}
			if got := e.get("a.example", false, 0); !strings.HasPrefix(got, "200") {
				t.Fatalf("before: mtls without a certificate: %q", got)
			}

			change(reloadV2)
			waitFor(t, "TLS 1.2 refused by the new default options", func() bool {
				return e.get("d.example", false, tls.VersionTLS12) == "handshake failed"
			})
			if got := e.get("d.example", false, 0); !strings.HasPrefix(got, "200") {
				t.Errorf("TLS 1.3 after the reload: %q", got)
			}
			if got := e.get("a.example", false, 0); got != "handshake failed" {
				t.Errorf("clientAuth added: without a certificate: %q, want a failed handshake", got)
			}
			if got := e.get("a.example", true, 0); !strings.HasPrefix(got, "200") {
				t.Errorf("clientAuth added: with a certificate: %q", got)
			}
			if !strings.Contains(e.log.String(), "TLS options reloaded") || !strings.Contains(e.log.String(), "changed=\"[default mtls]\"") {
				t.Errorf("the reload's log line does not name the changed options:\n%s", e.log)
			}

			change(reloadV1)
			waitFor(t, "clientAuth removed", func() bool {
				return strings.HasPrefix(e.get("a.example", false, 0), "200")
			})
			if got := e.get("d.example", false, tls.VersionTLS12); !strings.HasPrefix(got, "200") {
				t.Errorf("default options back to TLS 1.2: %q", got)
			}

			change(reloadV3)
			waitFor(t, "the router without options answering 503", func() bool {
				got := e.get("a.example", false, 0)
				return strings.HasPrefix(got, "503") && strings.Contains(got, "traefik.http.routers.a.tls.options")
			})
			if !strings.Contains(e.log.String(), "added=[other] removed=[mtls]") {
				t.Errorf("the reload's log line does not name the added and removed options:\n%s", e.log)
			}
			change(reloadV1)
			waitFor(t, "the router serving once its options are back", func() bool {
				return strings.HasPrefix(e.get("a.example", false, 0), "200")
			})
		})
	}
}

// A file that no longer loads changes nothing: the error is logged,
// naming the file and the field, and the options in force stay, all of
// them (no option of the bad file is half-applied).
func TestTLSOptionsBadReloadKeepsTheOld(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		clientCA   string // --ingress-tls-client-ca content, "" for none
		want       []string
	}{
		{"not YAML", "tls: [", "", []string{"tls.yml"}},
		{"unknown field", "tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n    mtls:\n      maxVersoin: VersionTLS12\n", "", []string{"tls.yml", "maxVersoin"}},
		{"unknown version", "tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n    mtls:\n      minVersion: TLS9\n", "", []string{"tls.yml", "tls.options.mtls.minVersion"}},
		{"missing caFile", "tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n    mtls:\n      clientAuth:\n        caFiles: [/nonexistent/ca.pem]\n", "", []string{"tls.yml", "tls.options.mtls.clientAuth.caFiles", "/nonexistent/ca.pem"}},
		{"caFile not PEM", "tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n    mtls:\n      clientAuth:\n        caFiles: [BAD]\n", "", []string{"tls.options.mtls.clientAuth.caFiles", "no PEM certificate"}},
		{"client CA conflict", "tls:\n  options:\n    default:\n      clientAuth:\n        caFiles: [CA]\n    mtls: {}\n", "CA", []string{"--ingress-tls-client-ca", "default entry sets clientAuth"}},
		{"client CA file gone", reloadV2, "gone", []string{"--ingress-tls-client-ca", "client.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newReloadEnv(t, reloadV1)
			bad := filepath.Join(e.dir, "bad.pem")
			if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.clientCA != "" {
				e.reloader.Files.ClientCA = filepath.Join(e.dir, "client.pem")
				if tc.clientCA == "CA" {
					caPEM, _ := os.ReadFile(e.caFile)
					if err := os.WriteFile(e.reloader.Files.ClientCA, caPEM, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			replaceFile(t, e.opts, strings.ReplaceAll(e.expand(tc.file), "BAD", bad))
			err := e.reloader.Reload(true)
			if err == nil {
				t.Fatal("Reload took a bad file")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if log := e.log.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "stay") {
				t.Errorf("log %q: want an error saying the old options stay", log)
			}
			// The old options: TLS 1.2 by default, mtls without clientAuth.
			if got := e.get("d.example", false, tls.VersionTLS12); !strings.HasPrefix(got, "200") {
				t.Errorf("default options after a bad reload: %q", got)
			}
			if got := e.get("a.example", false, 0); !strings.HasPrefix(got, "200") {
				t.Errorf("mtls after a bad reload: %q", got)
			}
		})
	}
}

// A connection keeps the options its handshake got: a reload that
// leaves its options as they were keeps it on its router, and one that
// changes them to require a client certificate (added, or of another
// CA) answers its next request 421, while new connections get the new
// options.
func TestTLSOptionsReloadOldConnectionMisdirected(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial string
		cert    bool
		steps   []string // before the second and third requests
	}{
		{"clientAuth added", reloadV1, false, []string{reloadV1 + "    other: {}\n", reloadV2}},
		{"client CA rotated", reloadV2, true, []string{reloadV2 + "    other: {}\n", strings.ReplaceAll(reloadV2, "CA", "CA2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newReloadEnv(t, tc.initial)
			other, otherPEM := clientCert(t)
			if err := os.WriteFile(e.caFile+"2", otherPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			got := keepAliveGets(t, e.addr, e.client("a.example", tc.cert, 0), []string{"a.example", "a.example", "a.example"}, func(i int) {
				if i == 0 {
					return
				}
				replaceFile(t, e.opts, e.expand(tc.steps[i-1]))
				if err := e.reloader.Reload(true); err != nil {
					t.Fatal(err)
				}
			})
			if fmt.Sprint(got) != "[200 200 421]" {
				t.Errorf("statuses %v, want [200 200 421]: kept across a reload that leaves its options, misdirected once they change", got)
			}
			if got := e.get("a.example", tc.cert, 0); got != "handshake failed" {
				t.Errorf("a new connection as before: %q, want a failed handshake", got)
			}
			c := e.client("a.example", true, 0)
			if tc.cert { // rotated: the old certificate is refused above
				c.Certificates = []tls.Certificate{other}
			}
			if _, got, err := tlsGet(e.addr, c, "a.example"); err != nil || !strings.HasPrefix(got, "200") {
				t.Errorf("a new connection with a certificate of the new CA: %v %q", err, got)
			}
		})
	}
}

// TLSFiles.Load names the file of its error.
func TestTLSFilesLoadErrors(t *testing.T) {
	_, err := ingress.TLSFiles{Options: "/nonexistent/tls.yml"}.Load()
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "--ingress-tls-options /nonexistent/tls.yml") {
		t.Errorf("Load: %v", err)
	}
	set, err := ingress.TLSFiles{}.Load()
	if err != nil || fmt.Sprint(set.Names()) != "[default]" {
		t.Errorf("Load without files: %v %v, want the default options", set.Names(), err)
	}
}

// A session ticket issued before the client CAs were rotated does not
// resume past them: the resumed handshake gets the new options, whose
// CAs do not hold the session's certificate.
func TestTLSOptionsReloadResumptionAfterRotation(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(fmt.Sprintf("%x", v), func(t *testing.T) {
			e := newReloadEnv(t, reloadV2)
			_, otherPEM := clientCert(t)
			if err := os.WriteFile(e.caFile+"2", otherPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			cache := &anyKeyCache{}
			cfg := e.client("a.example", true, v)
			cfg.ClientSessionCache = cache
			if _, got, err := tlsGet(e.addr, cfg, "a.example"); err != nil || !strings.HasPrefix(got, "200") {
				t.Fatalf("before the rotation: %v %q", err, got)
			}
			if cache.s == nil {
				t.Skip("no session ticket")
			}
			replaceFile(t, e.opts, e.expand(strings.ReplaceAll(reloadV2, "CA", "CA2")))
			if err := e.reloader.Reload(true); err != nil {
				t.Fatal(err)
			}
			resume := cfg.Clone()
			resume.Certificates = nil
			st, got, err := tlsGet(e.addr, resume, "a.example")
			if err == nil && strings.HasPrefix(got, "200") {
				t.Errorf("reached with a session of the rotated-out CA: resumed %v, %q", st.DidResume, got)
			}
		})
	}
}

// A table made without options (ServeTLS's configuration as given)
// takes them from SetTLSOptions.
func TestSetTLSOptionsOnATableWithout(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "d.example")
	table, addr := serveWithOptions(t, nil, []tls.Certificate{cert})
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	cfg := &tls.Config{RootCAs: roots, ServerName: "d.example", MaxVersion: tls.VersionTLS12}
	if _, _, err := tlsGet(addr, cfg, "d.example"); err != nil {
		t.Fatalf("TLS 1.2 without options: %v", err)
	}
	set, err := ingress.ParseTLSOptions([]byte("tls:\n  options:\n    default:\n      minVersion: VersionTLS13\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch := table.SetTLSOptions(set); fmt.Sprint(ch.Changed) != "[default]" {
		t.Errorf("change %+v, want default changed", ch)
	}
	if _, _, err := tlsGet(addr, cfg, "d.example"); err == nil {
		t.Error("TLS 1.2 after SetTLSOptions made TLS 1.3 the minimum")
	}
}

// A connection made while the table had no options (its handshake got
// ServeTLS's configuration as given, no client certificate asked) is
// not served by a router whose options SetTLSOptions then makes require
// one: its next request is answered 421, as one made under other
// options would be.
func TestSetTLSOptionsOnATableWithoutOldConnectionMisdirected(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "d.example")
	table, addr := serveWithOptions(t, nil, []tls.Certificate{cert})
	b := startBackend(t, "d", nil)
	table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.d.rule=Host(`d.example`)", "traefik.http.routers.d.tls=true",
		"traefik.http.services.s.loadbalancer.server.port=80"))}, []*api.Task{task("t1", "s1", b.addr())})
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	_, caPEM := clientCert(t)
	set, err := ingress.ParseTLSOptions([]byte("tls:\n  options:\n    default:\n      clientAuth:\n        caFiles: [ca.pem]\n"),
		func(string) ([]byte, error) { return caPEM, nil })
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: "d.example", NextProtos: []string{"http/1.1"}}
	got := keepAliveGets(t, addr, cfg, []string{"d.example", "d.example"}, func(i int) {
		if i == 1 {
			table.SetTLSOptions(set)
		}
	})
	if fmt.Sprint(got) != "[200 421]" {
		t.Errorf("statuses %v, want [200 421]: the second request came after default required a client certificate", got)
	}
}

// A node that cannot watch files (no inotify instance left) still
// reloads on SIGHUP: the kicks are read, and the failure is logged.
func TestTLSOptionsReloadWithoutWatcher(t *testing.T) {
	e := newReloadEnv(t, reloadV1)
	ingress.FailWatcher(e.reloader)
	e.run()
	if err := os.WriteFile(e.opts, []byte(e.expand(reloadV2)), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case e.kick <- struct{}{}:
	case <-time.After(testTimeout):
		t.Fatal("the kick (SIGHUP) was not read")
	}
	waitFor(t, "TLS 1.2 refused by the options the kick read", func() bool {
		return e.get("d.example", false, tls.VersionTLS12) == "handshake failed"
	})
	if !strings.Contains(e.log.String(), "too many open files") {
		t.Errorf("the watcher's failure is not logged:\n%s", e.log)
	}
}

// The same over HTTP/2: a connection whose client certificate was
// verified against CAs a reload rotated out is answered 421 on its next
// stream, by the router that requires a certificate of the new CA.
func TestTLSOptionsReloadOldH2ConnectionMisdirected(t *testing.T) {
	e := newReloadEnv(t, reloadV2)
	_, otherPEM := clientCert(t)
	if err := os.WriteFile(e.caFile+"2", otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := e.client("a.example", true, 0)
	cfg.NextProtos = []string{"h2"}
	codes := h2Statuses(t, cfg, "https://"+e.addr+"/", "a.example", func() {
		replaceFile(t, e.opts, e.expand(strings.ReplaceAll(reloadV2, "CA", "CA2")))
		if err := e.reloader.Reload(true); err != nil {
			t.Fatal(err)
		}
	})
	if fmt.Sprint(codes) != "[200 421]" {
		t.Errorf("h2 statuses %v, want [200 421]", codes)
	}
}

// An options file read while it is empty (truncated by a writer that
// has not written yet: `curl … > tls.yml`) changes nothing: it would
// take the default options' clientAuth away until the next write.
func TestTLSOptionsReloadOfAnEmptyFileKeepsTheOld(t *testing.T) {
	e := newReloadEnv(t, "tls:\n  options:\n    default:\n      clientAuth:\n        caFiles: [CA]\n    mtls: {}\n")
	if got := e.get("d.example", false, 0); got != "handshake failed" {
		t.Fatalf("before: default options without a certificate: %q", got)
	}
	for _, empty := range []string{"", " \n\n", "# being written\n"} {
		if err := os.WriteFile(e.opts, []byte(empty), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := e.reloader.Reload(true); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Reload of %q: %v, want an error saying the file is empty", empty, err)
		}
		if got := e.get("d.example", false, 0); got != "handshake failed" {
			t.Errorf("default options without a certificate after reading %q: %q", empty, got)
		}
	}
}

// `tls: {}` is how a file says it has no options: it loads.
func TestTLSOptionsFileWithNoOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tls.yml")
	if err := os.WriteFile(file, []byte("tls: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := ingress.ReadTLSOptionsFile(file)
	if err != nil || fmt.Sprint(set.Names()) != "[default]" {
		t.Errorf("tls: {}: %v, %v; want default only", set.Names(), err)
	}
}
