package client

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/testutil"
)

func testRoot(t *testing.T) *ca.RootCA {
	t.Helper()
	r, err := ca.NewRootCA("cluster1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writeFiles writes a certificate folder in docker's layout.
func writeFiles(t *testing.T, caPEM, certPEM, keyPEM []byte) *TLSFiles {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string][]byte{CAFile: caPEM, CertFile: certPEM, KeyFile: keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return TLSFilesIn(dir)
}

// operatorFiles issues an operator certificate of root into a folder.
func operatorFiles(t *testing.T, root *ca.RootCA, name string) *TLSFiles {
	t.Helper()
	certPEM, keyPEM := testutil.OperatorCert(t, root, name)
	return writeFiles(t, root.CertPEM, certPEM, keyPEM)
}

// nodeFiles issues a node (worker) certificate of root into a folder.
func nodeFiles(t *testing.T, root *ca.RootCA) *TLSFiles {
	t.Helper()
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := root.Issue(csrPEM, "node0000000000000000000001", ca.RoleWorker, ca.DefaultCertExpiry, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return writeFiles(t, root.CertPEM, certPEM, keyPEM)
}

func TestTCPWithoutCertificatesIsRefused(t *testing.T) {
	c, err := New("tcp://127.0.0.1:2376")
	if !errors.Is(err, ErrNeedTLS) || c != nil {
		t.Fatalf("New(tcp://) = %v, %v; want ErrNeedTLS", c, err)
	}
	for _, want := range []string{"--tlsverify", "--tlscert", "SHOAL_CERT_PATH", "SHOAL_TLS_VERIFY=1", "shoal context create", "--issue-client"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// Missing files are named.
	_, err = NewTLS("tcp://127.0.0.1:2376", TLSFilesIn(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "--tlscacert") {
		t.Fatalf("missing files: %v", err)
	}
	_, err = NewTLS("tcp://127.0.0.1:2376", &TLSFiles{CA: "x"})
	if !errors.Is(err, ErrNeedTLS) {
		t.Fatalf("incomplete files: %v", err)
	}
	// A CA file that holds no certificate.
	f := operatorFiles(t, testRoot(t), "alice")
	os.WriteFile(f.CA, []byte("not pem"), 0o600)
	if _, err := NewTLS("tcp://127.0.0.1:2376", f); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("bad CA file: %v", err)
	}
}

// TestTLSClientAgainstAPIListener: the client reaches a listener set up
// as a manager's TCP API with an operator certificate, and says what is
// wrong otherwise.
func TestTLSClientAgainstAPIListener(t *testing.T) {
	root := testRoot(t)
	srvTLS := &ca.APIServer{NodeID: "n1", Hosts: []string{"127.0.0.1"},
		State: func() ca.CAState { return ca.CAState{Trust: root, Self: root, Token: root} }}
	var seen string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = ca.OperatorName(r.TLS)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"NodeID":"n1"}`)
	}))
	srv.TLS = srvTLS.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := "tcp://" + strings.TrimPrefix(srv.URL, "https://")

	c, err := NewTLS(host, operatorFiles(t, root, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.http.CloseIdleConnections)
	info, err := c.Info(testCtx(t))
	if err != nil || info.NodeID != "n1" || seen != "alice" {
		t.Fatalf("Info = %+v, %v (operator %q)", info, err, seen)
	}

	other := testRoot(t)
	for name, tc := range map[string]struct {
		files *TLSFiles
		hint  string
	}{
		"worker certificate": {nodeFiles(t, root), "operator certificates"},
		"another CA's operator": {func() *TLSFiles {
			f := operatorFiles(t, other, "mallory")
			os.WriteFile(f.CA, root.CertPEM, 0o600) // trusts the manager, not trusted by it
			return f
		}(), "refused this client certificate"},
		"another CA as ca.pem": {operatorFiles(t, other, "mallory"), "not from the CA"},
	} {
		c, err := NewTLS(host, tc.files)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Info(testCtx(t))
		c.http.CloseIdleConnections()
		var ce *ConnectError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.hint) {
			t.Errorf("%s: %v, want a ConnectError saying %q", name, err, tc.hint)
		}
	}
	// The manager's certificate must name the host dialled: this one
	// names 127.0.0.1, not localhost.
	c, err = NewTLS(strings.Replace(host, "127.0.0.1", "localhost", 1), operatorFiles(t, root, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(testCtx(t))
	c.http.CloseIdleConnections()
	if err == nil || !strings.Contains(err.Error(), "does not name this host") {
		t.Errorf("a certificate not naming localhost: %v", err)
	}
}

// TestIssueOperatorCertRequest: the request the CLI sends.
func TestIssueOperatorCertRequest(t *testing.T) {
	var got api.OperatorCertRequest
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/swarm/ca/operator" {
			http.Error(w, "wrong", http.StatusNotFound)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		io.WriteString(w, `{"Cert":"C","CA":"R"}`)
	}))
	out, err := c.IssueOperatorCert(testCtx(t), api.OperatorCertRequest{Name: "alice", CSR: "csr", Expiry: time.Hour})
	if err != nil || out.Cert != "C" || out.CA != "R" || got.Name != "alice" || got.CSR != "csr" || got.Expiry != time.Hour {
		t.Fatalf("%+v %v %+v", out, err, got)
	}
}

// Only a manager's certificate passes for the API: a worker's of the same
// cluster (it names "worker.shoal" and its node ID) is refused even where
// it would name the host dialled.
func TestServerCertificateMustBeAManagers(t *testing.T) {
	root := testRoot(t)
	mgr, err := ca.IssueAPIServer(root, "n1", []string{"127.0.0.1"}, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyManager(tls.ConnectionState{PeerCertificates: []*x509.Certificate{mgr.Leaf}}); err != nil {
		t.Errorf("a manager's API certificate: %v", err)
	}
	f := nodeFiles(t, root)
	worker, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(worker.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	err = verifyManager(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}})
	if err == nil || !strings.Contains(err.Error(), "not a manager's") {
		t.Errorf("a worker's certificate: %v, want it refused", err)
	}
	if err := verifyManager(tls.ConnectionState{}); err == nil {
		t.Error("no certificate passed")
	}
}
