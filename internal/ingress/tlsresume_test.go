package ingress_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// anyKeyCache resumes its one session for any server name, as a
// client that replays a ticket to another name would.
type anyKeyCache struct{ s *tls.ClientSessionState }

func (c *anyKeyCache) Get(string) (*tls.ClientSessionState, bool) { return c.s, c.s != nil }
func (c *anyKeyCache) Put(_ string, s *tls.ClientSessionState) {
	if s != nil {
		c.s = s
	}
}

// A session ticket issued under one TLS option's client CAs does not
// resume a handshake under another's: the client certificate is not
// re-verified against the second CA pool.
func TestTLSOptionsResumptionAcrossOptions(t *testing.T) {
	certA, leafA := testutil.SelfSignedClientCert(t, "client-a")
	_, leafB := testutil.SelfSignedClientCert(t, "client-b")
	pems := map[string][]byte{
		"a.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafA.Raw}),
		"b.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafB.Raw}),
	}
	set, err := ingress.ParseTLSOptions([]byte(`
tls:
  options:
    ca-a:
      clientAuth: {caFiles: [a.pem]}
    ca-b:
      clientAuth: {caFiles: [b.pem]}
`), func(n string) ([]byte, error) {
		if b, ok := pems[n]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, leaf := testutil.SelfSignedCert(t, "a.example", "b.example")
	table, addr := serveWithOptions(t, set, []tls.Certificate{cert})
	b := startBackend(t, "a", nil)
	table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.a.rule=Host(`a.example`)", "traefik.http.routers.a.tls.options=ca-a",
		"traefik.http.routers.b.rule=Host(`b.example`)", "traefik.http.routers.b.tls.options=ca-b",
		"traefik.http.services.s.loadbalancer.server.port=80"))}, []*api.Task{task("t1", "s1", b.addr())})
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(fmt.Sprintf("%x", v), func(t *testing.T) {
			cache := &anyKeyCache{}
			cfg := &tls.Config{RootCAs: roots, ServerName: "a.example", Certificates: []tls.Certificate{certA},
				ClientSessionCache: cache, MaxVersion: v, NextProtos: []string{"http/1.1"}}
			if _, got, err := tlsGet(addr, cfg, "a.example"); err != nil || !strings.HasPrefix(got, "200") {
				t.Fatalf("a.example with client-a's certificate: %v %q", err, got)
			}
			if cache.s == nil {
				t.Skip("no session ticket")
			}
			cfgB := cfg.Clone()
			cfgB.ServerName = "b.example"
			cfgB.Certificates = nil
			st, got, err := tlsGet(addr, cfgB, "b.example")
			if err == nil && strings.HasPrefix(got, "200") {
				t.Errorf("b.example (CA b) reached with a session from a.example (CA a): resumed %v, %q", st.DidResume, got)
			}
		})
	}
}
