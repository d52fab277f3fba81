package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"net/url"
	"strings"
	"testing"
)

// A joining node's request says nothing about what it gets: a request
// that asks for a manager's subject, a CA's basic constraints, key usages
// and names of its own gets a plain worker certificate for the node the
// CA names; a key other than ECDSA P-256 is refused.
func TestIssueIgnoresWhatTheRequestAsks(t *testing.T) {
	r := newRoot(t, "c1")
	certPEM, err := r.Issue(evilCSR(t), "node-a", RoleWorker, DefaultCertExpiry, t0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.Verify([]*x509.Certificate{leaf}, t0)
	if err != nil || id != (Identity{"node-a", RoleWorker, "c1", r.Digest()}) {
		t.Fatalf("identity %+v %v, want worker node-a", id, err)
	}
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign != 0 || len(leaf.IPAddresses) != 0 || len(leaf.URIs) != 0 ||
		strings.Join(leaf.DNSNames, ",") != "worker.shoal,node-a" {
		t.Fatalf("issued IsCA %v, usage %v, IPs %v, URIs %v, DNS %v: want none of what the request asked", leaf.IsCA, leaf.KeyUsage, leaf.IPAddresses, leaf.URIs, leaf.DNSNames)
	}
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 19}) && leaf.BasicConstraintsValid {
			t.Fatal("the request's basic constraints were copied")
		}
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]any{"RSA": rsaKey, "P-384": p384} {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Issue(encodePEM("CERTIFICATE REQUEST", der), "n", RoleWorker, DefaultCertExpiry, t0); err == nil || !strings.Contains(err.Error(), "ECDSA P-256") {
			t.Errorf("%s request: %v, want refused naming ECDSA P-256", name, err)
		}
	}
}

// evilCSR is a request that asks for a manager's subject, a CA's basic
// constraints and names of its own.
func evilCSR(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Basic constraints: CA true, no path length.
	bc, err := asn1.Marshal(struct{ IsCA bool }{true})
	if err != nil {
		t.Fatal(err)
	}
	evil, _ := url.Parse("spiffe://c1/manager")
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: "node-m", OrganizationalUnit: []string{"manager"}, Organization: []string{"c1"}},
		DNSNames:        []string{managerName, "localhost"},
		IPAddresses:     []net.IP{net.ParseIP("127.0.0.1")},
		URIs:            []*url.URL{evil},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return encodePEM("CERTIFICATE REQUEST", der)
}

// An operator's request is as powerless as a node's: the certificate
// names the operator the caller gave, OU operator, client use only.
func TestIssueOperatorIgnoresWhatTheRequestAsks(t *testing.T) {
	r := newRoot(t, "c1")
	certPEM, err := r.IssueOperator(evilCSR(t), "alice", DefaultCertExpiry, t0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := r.VerifyOperator([]*x509.Certificate{leaf}, t0); err != nil || name != "alice" {
		t.Fatalf("VerifyOperator = %q, %v", name, err)
	}
	if leaf.IsCA || leaf.BasicConstraintsValid || leaf.KeyUsage&x509.KeyUsageCertSign != 0 || len(leaf.IPAddresses)+len(leaf.URIs)+len(leaf.DNSNames) != 0 ||
		len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || leaf.Subject.CommonName != "alice" {
		t.Fatalf("issued %+v: want none of what the request asked", leaf)
	}
}
