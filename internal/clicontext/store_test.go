package clicontext

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/testutil"
)

// certDir writes an operator certificate folder (docker's layout).
func certDir(t *testing.T) string {
	t.Helper()
	root, err := ca.NewRootCA("c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := testutil.OperatorCert(t, root, "alice")
	dir := t.TempDir()
	for name, b := range map[string][]byte{client.CAFile: root.CertPEM, client.CertFile: certPEM, client.KeyFile: keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestStoreCreateGetListRemove(t *testing.T) {
	st := Store{Dir: filepath.Join(t.TempDir(), "cfg")}
	certs := certDir(t)
	if err := st.Create(Context{Name: "prod", Description: "the cluster", Host: "tcp://10.0.0.1:2376"}, certs); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(Context{Name: "local", Host: "unix:///run/shoal.sock"}, ""); err != nil {
		t.Fatal(err)
	}
	// Modes: a context holds a private key.
	for _, p := range []string{"contexts", "contexts/prod", "contexts/prod/tls"} {
		if fi, err := os.Stat(filepath.Join(st.Dir, p)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want 0700", p, fi.Mode(), err)
		}
	}
	for _, p := range []string{"contexts/prod/meta.json", "contexts/prod/tls/key.pem", "contexts/prod/tls/cert.pem", "contexts/prod/tls/ca.pem"} {
		if fi, err := os.Stat(filepath.Join(st.Dir, p)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", p, fi.Mode(), err)
		}
	}
	c, err := st.Get("prod")
	if err != nil || c.Host != "tcp://10.0.0.1:2376" || !c.TLS || c.Description != "the cluster" {
		t.Fatalf("Get = %+v, %v", c, err)
	}
	list, bad, err := st.List()
	if err != nil || len(list) != 2 || list[0].Name != "local" || list[1].Name != "prod" || len(bad) != 0 {
		t.Fatalf("List = %+v %v %v", list, bad, err)
	}
	if err := st.Create(Context{Name: "prod", Host: "unix:///x"}, ""); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate: %v", err)
	}
	if err := st.Use("prod"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := st.Current(); cur != "prod" {
		t.Fatalf("current %q", cur)
	}
	if err := st.Remove("prod"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := st.Current(); cur != Default {
		t.Fatalf("after removing the current context: %q, want default", cur)
	}
	if _, err := st.Get("prod"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed context: %v", err)
	}
	if err := st.Remove("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove missing: %v", err)
	}
}

func TestStoreRefusesBadInput(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	certs := certDir(t)
	for name, tc := range map[string]struct {
		c     Context
		certs string
		want  string
	}{
		"bad name":           {Context{Name: "../x", Host: "unix:///s"}, "", "invalid context name"},
		"empty name":         {Context{Name: "", Host: "unix:///s"}, "", "invalid context name"},
		"default":            {Context{Name: "default", Host: "unix:///s"}, "", "built-in"},
		"tcp without certs":  {Context{Name: "a", Host: "tcp://h:1"}, "", "SHOAL_CERT_PATH"},
		"http host":          {Context{Name: "b", Host: "http://h:1"}, "", "invalid host"},
		"certs with unix":    {Context{Name: "c", Host: "unix:///s"}, certs, "goes with a tcp:// host"},
		"missing cert files": {Context{Name: "d", Host: "tcp://h:1"}, t.TempDir(), "--tlscacert"},
	} {
		err := st.Create(tc.c, tc.certs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// Nothing was left behind.
	if list, _, _ := st.List(); len(list) != 0 {
		t.Fatalf("contexts left: %+v", list)
	}
	if err := st.Use("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("use missing: %v", err)
	}
	if err := st.Remove(Default); err == nil {
		t.Fatal("removed default")
	}
}

// TestResolvePrecedence: -H > SHOAL_HOST > --context > SHOAL_CONTEXT >
// current context > the local socket, as docker.
func TestResolvePrecedence(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	certs := certDir(t)
	for _, n := range []string{"flagctx", "envctx", "curctx"} {
		if err := st.Create(Context{Name: n, Host: "tcp://" + n + ":2376"}, certs); err != nil {
			t.Fatal(err)
		}
	}
	files := client.TLSFilesIn("/certs")
	full := Inputs{Host: "unix:///flag.sock", EnvHost: "tcp://env:1", Context: "flagctx", EnvContext: "envctx", DefaultHost: "unix:///default.sock", TLS: files}
	steps := []struct {
		drop func(*Inputs)
		want string
	}{
		{func(*Inputs) {}, "unix:///flag.sock"},
		{func(in *Inputs) { in.Host = "" }, "tcp://env:1"},
		{func(in *Inputs) { in.EnvHost = "" }, "tcp://flagctx:2376"},
		{func(in *Inputs) { in.Context = "" }, "tcp://envctx:2376"},
		{func(in *Inputs) { in.EnvContext = "" }, "unix:///default.sock"},
	}
	in := full
	for i, s := range steps {
		s.drop(&in)
		ep, err := st.Resolve(in)
		if err != nil || ep.Host != s.want {
			t.Fatalf("step %d: %+v, %v; want %s", i, ep, err, s.want)
		}
		if strings.HasPrefix(ep.Host, "tcp://") && ep.TLS == nil {
			t.Errorf("step %d: tcp:// without TLS files", i)
		}
	}
	// The host flags carry the TLS flags; a context its own files.
	if ep, _ := st.Resolve(Inputs{EnvHost: "tcp://env:1", TLS: files}); ep.TLS != files {
		t.Errorf("SHOAL_HOST lost the TLS files")
	}
	if ep, _ := st.Resolve(Inputs{Context: "flagctx", TLS: files}); ep.TLS == nil || ep.TLS.CA != filepath.Join(st.Dir, "contexts", "flagctx", "tls", "ca.pem") {
		t.Errorf("context TLS files: %+v", ep.TLS)
	}
	// The current context comes last before the default.
	if err := st.Use("curctx"); err != nil {
		t.Fatal(err)
	}
	if ep, _ := st.Resolve(Inputs{DefaultHost: "unix:///d.sock"}); ep.Host != "tcp://curctx:2376" || ep.Context != "curctx" {
		t.Errorf("current context: %+v", ep)
	}
	if ep, _ := st.Resolve(Inputs{EnvContext: "default", DefaultHost: "unix:///d.sock"}); ep.Host != "unix:///d.sock" {
		t.Errorf("SHOAL_CONTEXT=default: %+v", ep)
	}
	if _, err := st.Resolve(Inputs{Context: "missing"}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "--context") {
		t.Errorf("missing context: %v", err)
	}
}

// TestRemoveRefusesBadName: a name that is no context name never reaches
// the file system (`context rm ../..` removed the folder above the
// store).
func TestRemoveRefusesBadName(t *testing.T) {
	top := t.TempDir()
	s := Store{Dir: filepath.Join(top, "cfg")}
	keep := filepath.Join(top, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "contexts"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../..", "..", "", "a/../../.."} {
		if err := s.Remove(name); err == nil {
			t.Errorf("Remove(%q) = nil, want an invalid-name error", name)
		}
	}
	for _, p := range []string{keep, filepath.Join(s.Dir, "contexts")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s gone after Remove of bad names: %v", p, err)
		}
	}
}
