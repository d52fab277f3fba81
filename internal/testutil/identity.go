package testutil

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
)

// Identity issues node a certificate of root with role, for a new key.
func Identity(t testing.TB, root *ca.RootCA, node string, role ca.Role) *ca.NodeIdentity {
	t.Helper()
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := root.Issue(csrPEM, node, role, ca.DefaultCertExpiry, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.NewNodeIdentity(certPEM, keyPEM, root.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
