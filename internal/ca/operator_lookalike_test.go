package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"
)

// forge signs a certificate of r for tmpl's subject and usages, as a CA
// key holder could: what VerifyOperator must tell from an operator's.
func forge(t *testing.T, r *RootCA, tmpl *x509.Certificate) []*x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	der, err := r.sign(tmpl, key.Public(), time.Until(tmpl.NotAfter), tmpl.NotBefore.Add(clockSkew))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{leaf}
}

// TestVerifyOperatorRefusesLookalikes: only OU exactly "operator", O
// this cluster, client use, issued by a root trusted now and valid now.
func TestVerifyOperatorRefusesLookalikes(t *testing.T) {
	root, _ := NewRootCA("c1", time.Now())
	subj := func(ous ...string) pkix.Name {
		return pkix.Name{CommonName: "alice", OrganizationalUnit: ous, Organization: []string{"c1"}}
	}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	ok := forge(t, root, &x509.Certificate{Subject: subj("operator"), ExtKeyUsage: client})
	if _, err := root.VerifyOperator(ok, time.Now()); err != nil {
		t.Fatalf("the control is refused: %v", err)
	}
	for name, tmpl := range map[string]*x509.Certificate{
		"two OUs":        {Subject: subj("operator", "manager"), ExtKeyUsage: client},
		"two OUs, other": {Subject: subj("worker", "operator"), ExtKeyUsage: client},
		"Operator":       {Subject: subj("Operator"), ExtKeyUsage: client},
		"OPERATOR":       {Subject: subj("OPERATOR"), ExtKeyUsage: client},
		"operator space": {Subject: subj("operator ")},
		"no OU":          {Subject: subj(), ExtKeyUsage: client},
		"server only":    {Subject: subj("operator"), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		"other cluster":  {Subject: pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"operator"}, Organization: []string{"c2"}}, ExtKeyUsage: client},
		"two clusters":   {Subject: pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"operator"}, Organization: []string{"c1", "c2"}}, ExtKeyUsage: client},
		"bad name":       {Subject: pkix.Name{CommonName: "a\nb", OrganizationalUnit: []string{"operator"}, Organization: []string{"c1"}}, ExtKeyUsage: client},
		"expired": {Subject: subj("operator"), ExtKeyUsage: client,
			NotBefore: time.Now().Add(-3 * time.Hour), NotAfter: time.Now().Add(-time.Hour)},
		"not yet valid": {Subject: subj("operator"), ExtKeyUsage: client,
			NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(3 * time.Hour)},
	} {
		if _, err := root.VerifyOperator(forge(t, root, tmpl), time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The root the certificate came from, once a rotation dropped it.
	newRoot := mustRotate(t, root)
	if _, err := newRoot.WithPrevious(root).VerifyOperator(ok, time.Now()); err != nil {
		t.Fatalf("during the rotation: %v", err)
	}
	if _, err := newRoot.VerifyOperator(ok, time.Now()); err == nil {
		t.Error("the previous root's operator passed after the rotation ended")
	}
}
