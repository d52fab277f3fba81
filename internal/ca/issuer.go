package ca

import (
	"errors"
	"fmt"
	"time"
)

// ErrTokensUnavailable is wrapped by the error of an Issuer's Current
// that cannot say which tokens admit now (a manager catching up with the
// cluster): the node should try again.
var ErrTokensUnavailable = errors.New("join tokens unavailable")

// Issuer is a manager's side of node certificates: it admits a new node
// by its join token, and renews the certificate of a node that proves who
// it is with its current one.
type Issuer struct {
	// Root is the cluster's root, unless State is set.
	Root *RootCA
	// State, when set, returns the CA as the cluster has it now (a
	// rotation changes it); Root is then unused.
	State func() CAState
	// Tokens admit joining nodes, unless Current is set.
	Tokens JoinTokens
	// Current, when set, returns the tokens that admit now (a cluster's,
	// which any manager may rotate); Tokens is then unused.
	Current func() (JoinTokens, error)
	// Expiry is the life of the certificates issued; zero means
	// DefaultCertExpiry.
	Expiry time.Duration
	// CurrentExpiry, when set, returns the life of the certificates
	// issued now (a cluster's); zero means DefaultCertExpiry, and Expiry
	// is unused.
	CurrentExpiry func() time.Duration
}

// CAState is a manager's CA at one point: the same root thrice, except
// while a rotation is under way (`swarm ca --rotate`).
type CAState struct {
	// Trust signs the nodes' certificates (joins, renewals) and verifies
	// the peers': during a rotation, the new root, trusting the old too.
	Trust *RootCA
	// Self issues the managers' own certificates: during a rotation the
	// old root, until every node trusts the new one.
	Self *RootCA
	// Token is the root the join tokens name: the old one until the
	// rotation ends.
	Token *RootCA
}

// CA returns the CA the manager issues and verifies with now.
func (i *Issuer) CA() CAState {
	if i.State != nil {
		return i.State()
	}
	return CAState{Trust: i.Root, Self: i.Root, Token: i.Root}
}

func (i *Issuer) expiry() time.Duration {
	e := i.Expiry
	if i.CurrentExpiry != nil {
		e = i.CurrentExpiry()
	}
	if e == 0 {
		return DefaultCertExpiry
	}
	return e
}

// Join admits the holder of token as the new node nodeID and signs its
// request. The manager, not the node, picks nodeID (as Swarm does): a
// token holder then cannot name itself after a node that exists and take
// over its tasks and secrets. The token decides the role.
func (i *Issuer) Join(token string, csrPEM []byte, nodeID string, now time.Time) (certPEM []byte, role Role, err error) {
	role, err = i.Admit(token)
	if err != nil {
		return nil, "", err
	}
	certPEM, err = i.CA().Trust.Issue(csrPEM, nodeID, role, i.expiry(), now)
	if err != nil {
		return nil, "", err
	}
	return certPEM, role, nil
}

// Admit returns the role token admits a node as now (JoinTokens.Admit
// with the current tokens).
func (i *Issuer) Admit(token string) (Role, error) {
	jt := i.Tokens
	if i.Current != nil {
		var err error
		if jt, err = i.Current(); err != nil {
			return "", fmt.Errorf("admit: %w", err)
		}
	}
	return jt.Admit(i.CA().Token, token)
}

// Renew signs a new certificate for the node id (what its current,
// verified certificate says): same node, same role, whatever the request
// says, so renewal never changes who a node is. A role changes only by
// an operator's promote or demote, which will issue with the new role.
func (i *Issuer) Renew(id Identity, csrPEM []byte, now time.Time) ([]byte, error) {
	return i.RenewAs(id, id.Role, csrPEM, now)
}

// RenewAs is Renew with the role the cluster records for the node (a
// demoted manager's next certificate is a worker's), never one the
// request names.
func (i *Issuer) RenewAs(id Identity, role Role, csrPEM []byte, now time.Time) ([]byte, error) {
	return i.RenewIn(i.CA().Trust, id, role, csrPEM, now)
}

// RenewIn is RenewAs with root, a Trust of CA the caller read once: the
// roots it answers with are those that issued.
func (i *Issuer) RenewIn(root *RootCA, id Identity, role Role, csrPEM []byte, now time.Time) ([]byte, error) {
	if id.ClusterID != root.ClusterID() {
		return nil, fmt.Errorf("renew certificate of node %s: it belongs to cluster %q, not %q", id.NodeID, id.ClusterID, root.ClusterID())
	}
	return root.Issue(csrPEM, id.NodeID, role, i.expiry(), now)
}
