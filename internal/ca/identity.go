package ca

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Role is what a node may do, carried in its certificate's OU.
type Role string

// The roles. A manager is also a worker, as in Swarm.
const (
	RoleWorker  Role = "worker"
	RoleManager Role = "manager"
)

func (r Role) valid() bool { return r == RoleWorker || r == RoleManager }

// Identity is who a verified certificate says its holder is.
type Identity struct {
	NodeID    string
	Role      Role
	ClusterID string
	// RootDigest names the root that issued the certificate (Verify
	// sets it): during a CA rotation, the managers count the nodes that
	// show one of the new root.
	RootDigest string
}

// ErrWrongRole is returned when a certificate's role does not allow what
// is asked.
var ErrWrongRole = errors.New("certificate role does not allow this")

// ParseIdentity reads the node ID (CN), role (OU) and cluster (O) of
// cert, and checks that the cluster is clusterID. It does not verify the
// certificate's signature: use Verify for a certificate a peer presents.
func ParseIdentity(cert *x509.Certificate, clusterID string) (Identity, error) {
	s := cert.Subject
	if s.CommonName == "" {
		return Identity{}, errors.New("certificate names no node (empty CN)")
	}
	if len(s.OrganizationalUnit) != 1 || !Role(s.OrganizationalUnit[0]).valid() {
		return Identity{}, fmt.Errorf("certificate of node %.64q has no valid role (OU %q): want %s or %s",
			s.CommonName, s.OrganizationalUnit, RoleWorker, RoleManager)
	}
	if len(s.Organization) != 1 || s.Organization[0] != clusterID {
		return Identity{}, fmt.Errorf("certificate of node %.64q is for cluster %q, not this cluster %q",
			s.CommonName, s.Organization, clusterID)
	}
	return Identity{NodeID: s.CommonName, Role: Role(s.OrganizationalUnit[0]), ClusterID: clusterID}, nil
}

// Verify checks that chain[0] was issued by root, is valid at now and is
// meant for a node (client and server use), and returns who it names.
// chain is what a TLS peer presented (leaf first).
func (r *RootCA) Verify(chain []*x509.Certificate, now time.Time) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, errors.New("no certificate presented: join the cluster with a token first")
	}
	leaf := chain[0]
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:       r.Pool(),
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return Identity{}, fmt.Errorf("certificate of node %.64q expired or not yet valid (valid %s to %s): the node must join again with a token",
				leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		return Identity{}, fmt.Errorf("certificate of node %.64q not issued by this cluster's CA: %w", leaf.Subject.CommonName, err)
	}
	id, err := ParseIdentity(leaf, r.ClusterID())
	if err != nil {
		return Identity{}, err
	}
	verified := chains[0]
	id.RootDigest = digestOf(verified[len(verified)-1].Raw)
	return id, nil
}

// Require returns ErrWrongRole (wrapped) unless id may act as role: a
// manager may do what a worker does, a worker only that.
func (id Identity) Require(role Role) error {
	if id.Role == role || (id.Role == RoleManager && role == RoleWorker) {
		return nil
	}
	return fmt.Errorf("node %s is a %s: %w (needs %s)", id.NodeID, id.Role, ErrWrongRole, role)
}

// RequireNode returns an error unless id is the node nodeID: a node
// speaks only for itself, whatever a request says.
func (id Identity) RequireNode(nodeID string) error {
	if id.NodeID != nodeID {
		return fmt.Errorf("certificate is node %s's, not node %.64q's: a node speaks only for itself", id.NodeID, nodeID)
	}
	return nil
}
