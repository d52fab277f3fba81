package ca

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// operatorCert issues an operator certificate under r, ready for crypto/tls.
func operatorCert(t *testing.T, r *RootCA, name string) tls.Certificate {
	t.Helper()
	keyPEM, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := r.IssueOperator(csrPEM, name, DefaultCertExpiry, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func leafOf(t *testing.T, c tls.Certificate) []*x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{leaf}
}

func TestOperatorCertificateIsNoNodeAndNodeIsNoOperator(t *testing.T) {
	root, _ := NewRootCA("c1", time.Now())
	op := operatorCert(t, root, "alice")
	name, err := root.VerifyOperator(leafOf(t, op), time.Now())
	if err != nil || name != "alice" {
		t.Fatalf("VerifyOperator = %q, %v", name, err)
	}
	// On the cluster port, an operator is no node.
	if _, err := root.Verify(leafOf(t, op), time.Now()); err == nil {
		t.Fatal("an operator certificate passed for a node")
	}
	// On the API listener, a node is no operator.
	for _, role := range []Role{RoleWorker, RoleManager} {
		id := identity(t, root, "node0000000000000000000001", role)
		if _, err := root.VerifyOperator(leafOf(t, id.Cert), time.Now()); err == nil || !strings.Contains(err.Error(), "operator certificates only") {
			t.Fatalf("%s certificate as operator: %v", role, err)
		}
	}
	other, _ := NewRootCA("c2", time.Now())
	if _, err := root.VerifyOperator(leafOf(t, operatorCert(t, other, "mallory")), time.Now()); err == nil {
		t.Fatal("another cluster's operator certificate passed")
	}
	if _, err := root.VerifyOperator(leafOf(t, op), time.Now().Add(DefaultCertExpiry+time.Hour)); err == nil {
		t.Fatal("an expired operator certificate passed")
	}
}

func TestIssueOperatorRefusesBadNames(t *testing.T) {
	root, _ := NewRootCA("c1", time.Now())
	_, csrPEM, _ := NewKeyAndCSR()
	for _, name := range []string{"", "-x", "a b", "a/b", strings.Repeat("a", 65), "é"} {
		if _, err := root.IssueOperator(csrPEM, name, DefaultCertExpiry, time.Now()); err == nil {
			t.Errorf("IssueOperator(%q) issued", name)
		}
	}
	if _, err := ParseRootCert(root.CertPEM); err != nil {
		t.Fatal(err)
	}
	noKey, _ := ParseRootCert(root.CertPEM)
	if _, err := noKey.IssueOperator(csrPEM, "alice", DefaultCertExpiry, time.Now()); err == nil {
		t.Fatal("issued without the CA key")
	}
}

// TestAPIServerTLS drives real handshakes against the API listener's
// configuration: only an operator certificate of this cluster gets an
// answer, and the server certificate names the hosts clients dial.
func TestAPIServerTLS(t *testing.T) {
	root, _ := NewRootCA("c1", time.Now())
	s := &APIServer{NodeID: "node0000000000000000000001", Hosts: []string{"127.0.0.1", "localhost"},
		State: func() CAState { return CAState{Trust: root, Self: root, Token: root} }}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+OperatorName(r.TLS))
	}))
	srv.TLS = s.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	client := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: root.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12}
	}
	body, err := get(srv, client(operatorCert(t, root, "alice")))
	if err != nil || body != "hello alice" {
		t.Fatalf("operator: %q, %v", body, err)
	}
	other, _ := NewRootCA("c2", time.Now())
	for name, cfg := range map[string]*tls.Config{
		"no certificate": client(),
		"worker":         client(identity(t, root, "node0000000000000000000002", RoleWorker).Cert),
		"manager":        client(identity(t, root, "node0000000000000000000003", RoleManager).Cert),
		"other CA":       client(operatorCert(t, other, "mallory")),
	} {
		if body, err := get(srv, cfg); err == nil {
			t.Errorf("%s: answered %q", name, body)
		}
	}
	// TLS 1.2 clients connect too (older docker CLIs).
	cfg := client(operatorCert(t, root, "bob"))
	cfg.MaxVersion = tls.VersionTLS12
	if body, err := get(srv, cfg); err != nil || body != "hello bob" {
		t.Fatalf("TLS 1.2: %q, %v", body, err)
	}
	// The certificate names the hosts, as clients check them (the
	// gets above checked 127.0.0.1, srv.URL's host).
	cert, err := s.certificate()
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.Leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
}

// TestAPIServerFollowsRotation: the server certificate comes from the
// managers' signing root, and is issued again when it changes.
func TestAPIServerFollowsRotation(t *testing.T) {
	oldRoot, _ := NewRootCA("c1", time.Now())
	newRoot := mustRotate(t, oldRoot)
	st := CAState{Trust: oldRoot, Self: oldRoot, Token: oldRoot}
	s := &APIServer{NodeID: "n", Hosts: []string{"127.0.0.1"}, State: func() CAState { return st }}
	c1, err := s.certificate()
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := s.certificate(); c2 != c1 {
		t.Fatal("certificate issued again without a reason")
	}
	st = CAState{Trust: newRoot, Self: newRoot, Token: newRoot}
	c3, err := s.certificate()
	if err != nil || c3 == c1 {
		t.Fatalf("not issued again after the root moved: %v", err)
	}
	if err := c3.Leaf.CheckSignatureFrom(newRoot.Cert); err != nil {
		t.Fatal(err)
	}
}

func mustRotate(t *testing.T, old *RootCA) *RootCA {
	t.Helper()
	r, err := NewRootCA(old.ClusterID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
