package ca

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/secretkey"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newRoot(t *testing.T, cluster string) *RootCA {
	t.Helper()
	r, err := NewRootCA(cluster, t0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// issue makes a key, a request and a certificate for it; it returns the
// parsed leaf and the PEMs.
func issue(t *testing.T, r *RootCA, node string, role Role, expiry time.Duration) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	keyPEM, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := r.Issue(csrPEM, node, role, expiry, t0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return leaf, certPEM, keyPEM
}

func TestRootValidity(t *testing.T) {
	r := newRoot(t, "c1")
	if got := r.Cert.NotAfter.Sub(t0); got != RootValidity {
		t.Fatalf("root valid for %s after now, want %s", got, RootValidity)
	}
	if r.ClusterID() != "c1" || !r.Cert.IsCA {
		t.Fatalf("root: cluster %q, IsCA %v", r.ClusterID(), r.Cert.IsCA)
	}
}

func TestVerify(t *testing.T) {
	r := newRoot(t, "c1")
	other := newRoot(t, "c2")
	sameName := newRoot(t, "c1") // another root claiming the same cluster ID
	worker, _, _ := issue(t, r, "node-a", RoleWorker, DefaultCertExpiry)
	manager, _, _ := issue(t, r, "node-m", RoleManager, DefaultCertExpiry)
	foreign, _, _ := issue(t, other, "node-a", RoleWorker, DefaultCertExpiry)
	forged, _, _ := issue(t, sameName, "node-m", RoleManager, DefaultCertExpiry)

	cases := []struct {
		name    string
		chain   []*x509.Certificate
		at      time.Time
		want    Identity
		wantErr string
	}{
		{"worker", []*x509.Certificate{worker}, t0.Add(time.Hour), Identity{"node-a", RoleWorker, "c1", r.Digest()}, ""},
		{"manager", []*x509.Certificate{manager}, t0.Add(89 * 24 * time.Hour), Identity{"node-m", RoleManager, "c1", r.Digest()}, ""},
		{"no certificate", nil, t0, Identity{}, "no certificate presented"},
		{"another cluster's CA", []*x509.Certificate{foreign}, t0, Identity{}, "not issued by this cluster's CA"},
		{"another CA with this cluster's name", []*x509.Certificate{forged}, t0, Identity{}, "not issued by this cluster's CA"},
		{"expired", []*x509.Certificate{worker}, t0.Add(DefaultCertExpiry + time.Second), Identity{}, "expired or not yet valid"},
		{"not yet valid", []*x509.Certificate{worker}, t0.Add(-time.Hour), Identity{}, "expired or not yet valid"},
		{"root as a node", []*x509.Certificate{r.Cert}, t0, Identity{}, "no valid role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.Verify(c.chain, c.at)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Verify = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestIssue(t *testing.T) {
	r := newRoot(t, "c1")
	keyPEM, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	_ = keyPEM
	t.Run("the CA names the node, not the request", func(t *testing.T) {
		leaf, _, _ := issue(t, r, "node-a", RoleWorker, DefaultCertExpiry)
		if leaf.Subject.CommonName != "node-a" || leaf.Subject.OrganizationalUnit[0] != "worker" || leaf.Subject.Organization[0] != "c1" {
			t.Fatalf("subject %v", leaf.Subject)
		}
		if got := leaf.NotAfter.Sub(t0); got != DefaultCertExpiry {
			t.Fatalf("valid for %s, want %s", got, DefaultCertExpiry)
		}
	})
	t.Run("never outlives the root", func(t *testing.T) {
		late := t0.Add(RootValidity - 24*time.Hour)
		c, err := r.Issue(csrPEM, "n", RoleWorker, DefaultCertExpiry, late)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := parseCertPEM(c)
		if !leaf.NotAfter.Equal(r.Cert.NotAfter) {
			t.Fatalf("NotAfter %s, root's %s", leaf.NotAfter, r.Cert.NotAfter)
		}
	})
	tampered := []byte(strings.Replace(string(csrPEM), string(csrPEM[len(csrPEM)-40:len(csrPEM)-30]), "AAAAAAAAAA", 1))
	bad := []struct {
		name    string
		ca      *RootCA
		csr     []byte
		node    string
		role    Role
		expiry  time.Duration
		wantErr string
	}{
		{"empty node", r, csrPEM, "", RoleWorker, DefaultCertExpiry, "empty node ID"},
		{"unknown role", r, csrPEM, "n", "admin", DefaultCertExpiry, `invalid role "admin"`},
		{"expiry too short", r, csrPEM, "n", RoleWorker, time.Minute, "under the minimum"},
		{"expiry past the root's life", r, csrPEM, "n", RoleWorker, RootValidity + time.Hour, "longer than the cluster CA's life"},
		{"not a request", r, []byte("hello"), "n", RoleWorker, DefaultCertExpiry, "not a PEM certificate request"},
		{"bad signature", r, tampered, "n", RoleWorker, DefaultCertExpiry, "certificate request"},
		{"no CA key", &RootCA{Cert: r.Cert, CertPEM: r.CertPEM}, csrPEM, "n", RoleWorker, DefaultCertExpiry, "does not hold the cluster CA key"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.ca.Issue(c.csr, c.node, c.role, c.expiry, t0)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestRoles(t *testing.T) {
	w := Identity{NodeID: "a", Role: RoleWorker}
	m := Identity{NodeID: "b", Role: RoleManager}
	if err := w.Require(RoleManager); !errors.Is(err, ErrWrongRole) {
		t.Fatalf("worker as manager: %v, want ErrWrongRole", err)
	}
	if err := w.Require(RoleWorker); err != nil {
		t.Fatal(err)
	}
	if err := m.Require(RoleWorker); err != nil {
		t.Fatalf("a manager is a worker too: %v", err)
	}
	if err := w.RequireNode("b"); err == nil {
		t.Fatal("node a's certificate spoke for node b")
	}
	if err := w.RequireNode("a"); err != nil {
		t.Fatal(err)
	}
}

func TestSealedKey(t *testing.T) {
	r := newRoot(t, "c1")
	k, _ := secretkey.Generate()
	sealed, err := r.SealKey(k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenRootCA(r.CertPEM, sealed, k)
	if err != nil {
		t.Fatal(err)
	}
	// The reopened root issues certificates the original verifies.
	_, csr, _ := NewKeyAndCSR()
	c, err := got.Issue(csr, "n", RoleWorker, DefaultCertExpiry, t0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := parseCertPEM(c)
	if _, err := r.Verify([]*x509.Certificate{leaf}, t0); err != nil {
		t.Fatal(err)
	}

	other := newRoot(t, "c1")
	otherSealed, _ := other.SealKey(k)
	k2, _ := secretkey.Generate()
	for name, f := range map[string]func() error{
		"wrong secret key": func() error { _, err := OpenRootCA(r.CertPEM, sealed, k2); return err },
		"another root's key": func() error {
			_, err := OpenRootCA(r.CertPEM, otherSealed, k)
			return err
		},
		"no key to seal": func() error { _, err := (&RootCA{Cert: r.Cert}).SealKey(k); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func TestNodeIdentityFiles(t *testing.T) {
	r := newRoot(t, "c1")
	_, certPEM, keyPEM := issue(t, r, "node-a", RoleWorker, DefaultCertExpiry)
	dir := filepath.Join(t.TempDir(), "agent")
	if _, err := LoadNodeIdentity(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no identity yet: %v, want ErrNotExist", err)
	}
	if err := SaveNodeIdentity(dir, certPEM, keyPEM, r.CertPEM); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{NodeCertFile, NodeKeyFile, RootCertFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	id, err := LoadNodeIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id.ID != (Identity{"node-a", RoleWorker, "c1", r.Digest()}) {
		t.Fatalf("identity %+v", id.ID)
	}
	// A key that is not the certificate's does not load.
	otherKey, _, _ := NewKeyAndCSR()
	if _, err := NewNodeIdentity(certPEM, otherKey, r.CertPEM); err == nil {
		t.Fatal("certificate loaded with another key")
	}
	// A certificate from another root does not load against this one.
	if _, err := NewNodeIdentity(certPEM, keyPEM, newRoot(t, "c1").CertPEM); err == nil {
		t.Fatal("certificate loaded under another root")
	}
}

func TestRenewAt(t *testing.T) {
	r := newRoot(t, "c1")
	leaf, _, _ := issue(t, r, "n", RoleWorker, DefaultCertExpiry)
	// The life counts from the issue, clockSkew after NotBefore.
	issued := leaf.NotBefore.Add(clockSkew)
	life := leaf.NotAfter.Sub(issued)
	if life != DefaultCertExpiry {
		t.Fatalf("life from the issue %s, want %s", life, DefaultCertExpiry)
	}
	lo := issued.Add(life / 2)
	hi := issued.Add(life * 2 / 3)
	for _, j := range []float64{-1, 0, 0.25, 0.5, 0.999999, 1, 7} {
		at := RenewAt(leaf, j)
		if at.Before(lo) || at.After(hi) {
			t.Errorf("jitter %v: renew at %s, outside [%s, %s]", j, at, lo, hi)
		}
	}
	if RenewAt(leaf, 0).Equal(RenewAt(leaf, 0.9)) {
		t.Error("jitter does not move the renewal time")
	}
	if NeedsRenewal(leaf, lo.Add(-time.Second), 0) || !NeedsRenewal(leaf, lo, 0) || !NeedsRenewal(leaf, hi, 0.999) {
		t.Error("NeedsRenewal disagrees with RenewAt")
	}
}
