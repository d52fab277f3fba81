package testutil

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
)

// OperatorCert issues an operator certificate of root named name, for
// tests of the TCP API: the certificate and its key, in PEM.
func OperatorCert(t testing.TB, root *ca.RootCA, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	keyPEM, csrPEM, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err = root.IssueOperator(csrPEM, name, ca.DefaultCertExpiry, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}
