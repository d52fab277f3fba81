package ca

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

func TestIssuerJoinAndRenew(t *testing.T) {
	root := newRoot(t, "c1")
	jt, _ := NewJoinTokens(root)
	iss := &Issuer{Root: root, Tokens: jt, Expiry: 2 * time.Hour}
	_, csr, _ := NewKeyAndCSR()

	verify := func(certPEM []byte, at time.Time) Identity {
		t.Helper()
		leaf, err := parseCertPEM(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		id, err := root.Verify([]*x509.Certificate{leaf}, at)
		if err != nil {
			t.Fatal(err)
		}
		if got := leaf.NotAfter.Sub(at); got != 2*time.Hour {
			t.Fatalf("valid for %s, want the issuer's 2h", got)
		}
		return id
	}

	for _, c := range []struct {
		tok  Token
		want Role
	}{{jt.Worker, RoleWorker}, {jt.Manager, RoleManager}} {
		cert, role, err := iss.Join(c.tok.String(), csr, "node-"+string(c.want), t0)
		if err != nil || role != c.want {
			t.Fatalf("join with the %s token: %q, %v", c.want, role, err)
		}
		if id := verify(cert, t0); id != (Identity{"node-" + string(c.want), c.want, "c1", root.Digest()}) {
			t.Fatalf("joined as %+v", id)
		}
	}

	rotated, _ := jt.Rotate(root, RoleWorker)
	iss.Tokens = rotated
	if _, _, err := iss.Join(jt.Worker.String(), csr, "node-x", t0); !errors.Is(err, ErrTokenRejected) {
		t.Fatalf("join with a rotated token: %v", err)
	}

	// Renewal keeps the node and its role, whatever the request says.
	worker := Identity{"node-a", RoleWorker, "c1", root.Digest()}
	later := t0.Add(time.Hour)
	cert, err := iss.Renew(worker, csr, later)
	if err != nil {
		t.Fatal(err)
	}
	if id := verify(cert, later); id != worker {
		t.Fatalf("renewed as %+v, want %+v", id, worker)
	}
	if _, err := iss.Renew(Identity{NodeID: "node-a", Role: RoleWorker, ClusterID: "c2"}, csr, later); err == nil {
		t.Fatal("renewed another cluster's node")
	}
}
