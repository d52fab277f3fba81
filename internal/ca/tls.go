package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// managerName is the DNS name every manager certificate carries: a node
// dials a manager by address, and checks that the certificate is a
// manager's of its cluster rather than a host name.
const managerName = string(RoleManager) + ".shoal"

// ServerConfig is the TLS 1.3 configuration of a manager listener for the
// holder of id. The chain sent includes the root, so a joining node that
// has only a token's digest can check it. With requireCert every client
// must present a certificate of this cluster; without, a client may come
// without one (to join with a token), and handlers must ask PeerIdentity.
func ServerConfig(id *NodeIdentity, requireCert bool) *tls.Config {
	cert := serverChain(id)
	auth := tls.VerifyClientCertIfGiven
	if requireCert {
		auth = tls.RequireAndVerifyClientCert
	}
	root := id.Root
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   auth,
		ClientCAs:    root.Pool(),
		// crypto/tls checked the chain; this checks what it says.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			_, err := ParseIdentity(cs.PeerCertificates[0], root.ClusterID())
			return err
		},
	}
}

// ClientConfig is the TLS 1.3 configuration a node with identity id uses
// to reach a manager: it presents its certificate and accepts only a
// manager certificate of its own cluster.
func ClientConfig(id *NodeIdentity) *tls.Config {
	root := id.Root
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		RootCAs:      root.Pool(),
		ServerName:   managerName,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return checkManager(root, cs.PeerCertificates, time.Now())
		},
	}
}

// CurrentClientConfig is ClientConfig of the identity current gives at
// each handshake: a manager's own, which renewals and CA rotations
// replace, so that its calls to other managers present and trust what
// it has now.
func CurrentClientConfig(current func() *NodeIdentity) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Verified in VerifyConnection, against the roots trusted then.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			id := current()
			return &id.Cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return checkManager(current().Root, cs.PeerCertificates, time.Now())
		},
	}
}

// JoinClientConfig is the TLS 1.3 configuration a node without a
// certificate uses once, to join with tok: the manager must show the
// root tok names, and a manager certificate issued by it, or the
// handshake fails before the token is sent.
func JoinClientConfig(tok Token) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The usual verification needs a root the node does not have yet;
		// VerifyConnection does it with the root the token names.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain := cs.PeerCertificates
			if len(chain) < 2 {
				return errors.New("the manager sent no cluster CA certificate")
			}
			root, err := tok.CheckRoot(chain[len(chain)-1].Raw)
			if err != nil {
				return err
			}
			return checkManager(root, chain, time.Now())
		},
	}
}

// checkManager checks that chain's leaf is a manager certificate of root
// valid at now.
func checkManager(root *RootCA, chain []*x509.Certificate, now time.Time) error {
	id, err := root.Verify(chain, now)
	if err != nil {
		return fmt.Errorf("manager certificate: %w", err)
	}
	if err := id.Require(RoleManager); err != nil {
		return fmt.Errorf("manager certificate: %w", err)
	}
	return nil
}

// PeerIdentity is who the client of a server connection configured by
// ServerConfig is, or an error when it presented no certificate.
func PeerIdentity(root *RootCA, cs *tls.ConnectionState, now time.Time) (Identity, error) {
	if cs == nil {
		return Identity{}, errors.New("not a TLS connection")
	}
	return root.Verify(cs.PeerCertificates, now)
}

// serverChain is id's certificate with the root appended, so that a
// joining node that has only a token's digest can check the chain.
//
// The root sent is the one that issued the certificate: during a CA
// rotation the managers' own certificates are still the old root's,
// which the join tokens name.
func serverChain(id *NodeIdentity) tls.Certificate {
	cert := id.Cert
	issuer := id.Root.Cert
	for _, c := range id.Root.roots() {
		if digestOf(c.Raw) == id.ID.RootDigest {
			issuer = c
		}
	}
	cert.Certificate = append(append([][]byte(nil), cert.Certificate[0]), issuer.Raw)
	return cert
}
