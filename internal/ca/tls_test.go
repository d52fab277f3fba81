package ca

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// identity issues a node identity under r valid now.
func identity(t *testing.T, r *RootCA, node string, role Role) *NodeIdentity {
	t.Helper()
	keyPEM, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := r.Issue(csrPEM, node, role, DefaultCertExpiry, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewNodeIdentity(certPEM, keyPEM, r.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tlsServer serves, as the manager mgr, the node ID of each client's
// certificate; it counts the requests that reached it.
func tlsServer(t *testing.T, mgr *NodeIdentity, requireCert bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		id, err := PeerIdentity(mgr.Root, r.TLS, time.Now())
		if err != nil {
			io.WriteString(w, "anonymous")
			return
		}
		io.WriteString(w, id.NodeID+"/"+string(id.Role))
	}))
	srv.TLS = ServerConfig(mgr, requireCert)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &hits
}

func get(srv *httptest.Server, cfg *tls.Config) (string, error) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(srv.URL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestMutualTLS(t *testing.T) {
	root, _ := NewRootCA("c1", time.Now())
	otherRoot, _ := NewRootCA("c2", time.Now())
	mgr := identity(t, root, "mgr-1", RoleManager)
	srv, hits := tlsServer(t, mgr, true)

	worker := identity(t, root, "node-a", RoleWorker)
	stranger := identity(t, otherRoot, "node-a", RoleWorker)
	noCert := ClientConfig(worker)
	noCert.Certificates = nil

	got, err := get(srv, ClientConfig(worker))
	if err != nil || got != "node-a/worker" {
		t.Fatalf("worker of this cluster: %q, %v", got, err)
	}
	for name, cfg := range map[string]*tls.Config{
		"no certificate": noCert,
		// Trusts this cluster's root, so only the server's check stops it.
		"another cluster's certificate": func() *tls.Config {
			c := ClientConfig(stranger)
			c.RootCAs = root.Pool()
			c.VerifyConnection = nil
			return c
		}(),
		"TLS 1.2": func() *tls.Config { c := ClientConfig(worker); c.MaxVersion = tls.VersionTLS12; return c }(),
	} {
		before := hits.Load()
		if got, err := get(srv, cfg); err == nil {
			t.Errorf("%s: admitted, answer %q", name, got)
		}
		if hits.Load() != before {
			t.Errorf("%s: a request reached the handler", name)
		}
	}
}

func TestClientRefusesNonManager(t *testing.T) {
	root, _ := NewRootCA("c1", time.Now())
	// A worker (stolen key, or a worker posing as a manager) serving.
	posing := identity(t, root, "node-b", RoleWorker)
	srv, _ := tlsServer(t, posing, true)
	worker := identity(t, root, "node-a", RoleWorker)
	if got, err := get(srv, ClientConfig(worker)); err == nil {
		t.Fatalf("a worker certificate passed as a manager's: %q", got)
	}
}

func TestJoinChecksRootBeforeSending(t *testing.T) {
	root, _ := NewRootCA("c1", time.Now())
	jt, _ := NewJoinTokens(root)
	mgr := identity(t, root, "mgr-1", RoleManager)
	srv, hits := tlsServer(t, mgr, false)

	got, err := get(srv, JoinClientConfig(jt.Worker))
	if err != nil || got != "anonymous" || hits.Load() != 1 {
		t.Fatalf("join with the cluster's token: %q, %v (%d requests served)", got, err, hits.Load())
	}

	// Another cluster's manager at the address the node was given.
	impostorRoot, _ := NewRootCA("c1", time.Now())
	impostor, impostorHits := tlsServer(t, identity(t, impostorRoot, "mgr-1", RoleManager), false)
	_, err = get(impostor, JoinClientConfig(jt.Worker))
	if err == nil || !strings.Contains(err.Error(), "not the one the join token names") {
		t.Fatalf("join at an impostor: %v, want a CA digest mismatch", err)
	}
	if impostorHits.Load() != 0 {
		t.Fatal("the request (and its token) reached the impostor")
	}

	// This cluster's worker serving: right root, wrong role.
	workerSrv, _ := tlsServer(t, identity(t, root, "node-b", RoleWorker), false)
	if _, err := get(workerSrv, JoinClientConfig(jt.Worker)); err == nil {
		t.Fatal("joined through a worker")
	}
}
