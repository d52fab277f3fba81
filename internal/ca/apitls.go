package ca

import (
	"crypto/tls"
	"sync"
	"time"
)

// APIServer is the TLS side of a manager's TCP API listeners (shoal's
// API and the Docker Engine API): a server certificate for the hosts
// clients dial, issued by the root the managers' own certificates come
// from and issued again when that root changes or the certificate is due
// for renewal; and client certificates required, verified against the
// roots the cluster trusts at each handshake, and of the operator role.
type APIServer struct {
	// NodeID names the manager in its certificate.
	NodeID string
	// Hosts are the certificate's names and addresses.
	Hosts []string
	// State is the cluster's CA now (a rotation changes it).
	State func() CAState
	// Expiry is the server certificate's life (0: DefaultCertExpiry).
	Expiry func() time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu   sync.Mutex
	cur  *tls.Certificate
	sign string
}

func (s *APIServer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// certificate returns the server certificate, issued again when the
// signing root moved or the current one is past the middle of its life.
// Issued from the root the managers' own certificates come from: during
// a CA rotation, the old one, which operators given the old ca.pem still
// trust; once it ends, the new one.
func (s *APIServer) certificate() (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	signer := s.State().Self
	now := s.now()
	if s.cur != nil && s.sign == signer.Digest() && !NeedsRenewal(s.cur.Leaf, now, 0) {
		return s.cur, nil
	}
	var expiry time.Duration
	if s.Expiry != nil {
		expiry = s.Expiry()
	}
	c, err := IssueAPIServer(signer, s.NodeID, s.Hosts, expiry, now)
	if err != nil {
		if s.cur != nil {
			return s.cur, nil // still valid for a while
		}
		return nil, err
	}
	s.cur, s.sign = &c, signer.Digest()
	return s.cur, nil
}

// apiCipherSuites are TLS 1.2's suites allowed: forward secret and
// authenticated encryption only (TLS 1.3's are all such).
var apiCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig is the listener's configuration: TLS 1.2 or newer (clients
// as old as the docker CLI's defaults connect), a client certificate
// required and verified against the roots trusted at the handshake, and
// refused unless it is an operator's.
func (s *APIServer) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, err := s.certificate()
			if err != nil {
				return nil, err
			}
			root := s.State().Trust
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				CipherSuites: apiCipherSuites,
				Certificates: []tls.Certificate{*cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    root.Pool(),
				NextProtos:   []string{"http/1.1"},
				VerifyConnection: func(cs tls.ConnectionState) error {
					_, err := root.VerifyOperator(cs.PeerCertificates, s.now())
					return err
				},
			}, nil
		},
	}
}

// OperatorName is the operator a connection of TLSConfig's belongs to,
// empty when it is not one (a unix socket's, a manager's).
func OperatorName(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return ""
	}
	s := cs.PeerCertificates[0].Subject
	if len(s.OrganizationalUnit) != 1 || Role(s.OrganizationalUnit[0]) != RoleOperator {
		return ""
	}
	return s.CommonName
}
