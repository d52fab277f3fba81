package ca

import (
	"crypto/tls"
	"sync"
	"time"
)

// SelfCert is a manager's own certificate for its listeners, issued by
// the root it holds and issued again once it is due for renewal, so a
// manager that runs longer than a certificate's life keeps a valid one.
type SelfCert struct {
	root   *RootCA
	nodeID string
	now    func() time.Time
	expiry func() time.Duration

	mu  sync.Mutex
	cur *NodeIdentity
	// roots, when set, gives the root that issues the certificate and
	// the roots it trusts, which a CA rotation changes.
	roots func() (sign, trust *RootCA)
}

// SetRoots makes the certificate follow the cluster's CA: it is issued
// again as soon as roots gives another signing root or trust set.
func (s *SelfCert) SetRoots(roots func() (sign, trust *RootCA)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roots = roots
}

// NewSelfCert issues the manager nodeID's first certificate from root,
// for the life expiry gives at each issue (the cluster's, which an
// operator may change; nil or zero: DefaultCertExpiry).
func NewSelfCert(root *RootCA, nodeID string, now func() time.Time, expiry func() time.Duration) (*SelfCert, error) {
	if now == nil {
		now = time.Now
	}
	if expiry == nil {
		expiry = func() time.Duration { return 0 }
	}
	s := &SelfCert{root: root, nodeID: nodeID, now: now, expiry: expiry}
	id, err := IssueSelfFor(root, nodeID, expiry(), now())
	if err != nil {
		return nil, err
	}
	s.cur = id
	return s, nil
}

// Identity returns the current certificate, first issuing a new one when
// the current is past the middle of its life. If issuing fails, the
// current one is kept (it is still valid for a while) and the error is
// returned with it.
func (s *SelfCert) Identity() (*NodeIdentity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sign, trust := s.root, s.root
	if s.roots != nil {
		sign, trust = s.roots()
	}
	moved := s.cur.ID.RootDigest != sign.Digest() || s.cur.Root.TrustDigest() != trust.TrustDigest()
	if !moved && !NeedsRenewal(s.cur.Cert.Leaf, now, 0) {
		return s.cur, nil
	}
	id, err := issueSelf(sign, trust, s.nodeID, s.expiry(), now)
	if err != nil {
		return s.cur, err
	}
	s.cur = id
	return id, nil
}

// ServerConfig is ServerConfig of the current certificate, looked up
// (and renewed when due, or when the cluster's CA moved) at every
// handshake, with the roots it trusts then.
func (s *SelfCert) ServerConfig(requireCert bool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			id, _ := s.Identity()
			return ServerConfig(id, requireCert), nil
		},
	}
}
