package ca

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

// A manager that runs longer than half its certificate's life shows a
// new certificate at the next handshake, so agents never meet an expired
// one however long the manager runs.
func TestSelfCertRenewsBeforeExpiry(t *testing.T) {
	root := newRoot(t, "c1")
	now := time.Now()
	clock := func() time.Time { return now }
	s, err := NewSelfCert(root, "mgr1", clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	conf := s.ServerConfig(false)
	cfg := struct {
		GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	}{func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := conf.GetConfigForClient(h)
		if err != nil {
			return nil, err
		}
		return &c.Certificates[0], nil
	}}
	first, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Certificate) != 2 {
		t.Fatalf("chain of %d certificates, want the leaf and the root", len(first.Certificate))
	}
	now = now.Add(DefaultCertExpiry / 4)
	if again, _ := cfg.GetCertificate(&tls.ClientHelloInfo{}); again.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatal("the certificate was renewed a quarter into its life")
	}
	now = now.Add(DefaultCertExpiry/2 + time.Hour)
	renewed, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("past half its life, the same certificate is still shown")
	}
	if !renewed.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Errorf("renewed certificate ends %v, not after the first's %v", renewed.Leaf.NotAfter, first.Leaf.NotAfter)
	}
	if id, err := root.Verify([]*x509.Certificate{renewed.Leaf}, now); err != nil || id.Role != RoleManager || id.NodeID != "mgr1" {
		t.Errorf("renewed certificate: %+v, %v; want mgr1's manager certificate of this root", id, err)
	}
}
