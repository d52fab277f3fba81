// Package ca is the cluster's certificate authority: a root made when the
// cluster is bootstrapped, node certificates issued from a node's
// certificate signing request (the node keeps its private key), the
// identity a certificate carries (CN = node ID, OU = role, O = cluster
// ID, as Swarm's), the join tokens that name the root by its digest, and
// the TLS configurations built from them. It uses the standard library's
// crypto only.
package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/internal/secretkey"
)

// RootValidity is how long a cluster's root certificate is valid. Swarm
// uses 20 years; ten is still far past any node certificate's life and
// halves how long a stolen root key is worth anything.
const RootValidity = 10 * 365 * 24 * time.Hour

// DefaultCertExpiry is how long a node certificate is valid unless the
// operator says otherwise (--cert-expiry), Swarm's default.
const DefaultCertExpiry = 90 * 24 * time.Hour

// MinCertExpiry is the shortest node certificate life accepted: renewal
// starts at half of it, so shorter lives would have nodes renewing
// faster than a manager can sensibly answer (Swarm's minimum is one hour).
const MinCertExpiry = time.Hour

// minExpiry is MinCertExpiry, lowered only by tests that watch
// certificates expire and renew within seconds (SetMinExpiryForTesting).
var minExpiry atomic.Int64

func init() { minExpiry.Store(int64(MinCertExpiry)) }

// SetMinExpiryForTesting lowers the shortest certificate life accepted to
// d, for tests only; the returned function restores MinCertExpiry.
func SetMinExpiryForTesting(d time.Duration) (restore func()) {
	minExpiry.Store(int64(d))
	return func() { minExpiry.Store(int64(MinCertExpiry)) }
}

// clockSkew is how far before "now" a certificate's validity starts, so a
// node whose clock is a little behind the manager's accepts it at once.
const clockSkew = 5 * time.Minute

// RootCA is a cluster's root: its certificate, and its key when this
// process may issue certificates (a manager).
type RootCA struct {
	// Cert is the root certificate.
	Cert *x509.Certificate
	// CertPEM is Cert in PEM, as it is stored and shown to joining nodes.
	CertPEM []byte
	key     *ecdsa.PrivateKey
	// also are the other roots trusted beside Cert: the previous root
	// while a rotation is under way (bundle.go).
	also []*x509.Certificate
}

// NewRootCA makes a root for the cluster clusterID, valid from now for
// RootValidity.
func NewRootCA(clusterID string, now time.Time) (*RootCA, error) {
	if clusterID == "" {
		return nil, errors.New("new cluster CA: empty cluster ID")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new cluster CA: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("new cluster CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "shoal-root-ca", Organization: []string{clusterID}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(RootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new cluster CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new cluster CA: %w", err)
	}
	return &RootCA{Cert: cert, CertPEM: encodePEM("CERTIFICATE", der), key: key}, nil
}

// ParseRootCert returns the root of certPEM without its key: what a
// worker holds to verify the managers and other nodes. certPEM may be a
// bundle (BundlePEM): the root, then the one it replaces.
func ParseRootCert(certPEM []byte) (*RootCA, error) {
	roots, err := parseBundle(certPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster CA certificate: %w", err)
	}
	return &RootCA{Cert: roots[0], CertPEM: encodePEM("CERTIFICATE", roots[0].Raw), also: roots[1:]}, nil
}

// ClusterID is the cluster the root belongs to (its subject's O).
func (r *RootCA) ClusterID() string {
	if len(r.Cert.Subject.Organization) == 0 {
		return ""
	}
	return r.Cert.Subject.Organization[0]
}

// CanSign reports whether r holds its key.
func (r *RootCA) CanSign() bool { return r.key != nil }

// Pool is a certificate pool holding the roots r trusts.
func (r *RootCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range r.roots() {
		p.AddCert(c)
	}
	return p
}

// keyContext binds a sealed root key to its certificate: a key sealed for
// one root does not open as another's.
func (r *RootCA) keyContext() string { return "ca-key/" + r.Digest() }

// SealKey returns the root's key encrypted with k, to be stored in Raft
// next to CertPEM, so that every manager (and a manager that joins later)
// can issue certificates while the key is never on disk in the clear.
func (r *RootCA) SealKey(k *secretkey.Key) ([]byte, error) {
	if r.key == nil {
		return nil, errors.New("seal cluster CA key: this node does not hold it")
	}
	der, err := x509.MarshalECPrivateKey(r.key)
	if err != nil {
		return nil, fmt.Errorf("seal cluster CA key: %w", err)
	}
	return k.Seal(der, r.keyContext())
}

// OpenRootCA returns the root of certPEM with the key SealKey sealed with
// k, checking that the key is the certificate's.
func OpenRootCA(certPEM, sealedKey []byte, k *secretkey.Key) (*RootCA, error) {
	r, err := ParseRootCert(certPEM)
	if err != nil {
		return nil, err
	}
	der, err := k.Open(sealedKey, r.keyContext())
	if err != nil {
		return nil, fmt.Errorf("open cluster CA key: %w", err)
	}
	key, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("open cluster CA key: %w", err)
	}
	if !key.PublicKey.Equal(r.Cert.PublicKey) {
		return nil, errors.New("open cluster CA key: the key is not the CA certificate's")
	}
	r.key = key
	return r, nil
}

// CheckExpiry checks a node certificate life the operator asks for
// (--cert-expiry), so that a bad value is refused when the manager starts
// rather than at the first join.
func CheckExpiry(d time.Duration) error {
	switch {
	case d < time.Duration(minExpiry.Load()):
		return fmt.Errorf("certificate expiry %s is under the minimum %s: pass --cert-expiry 1h or more (default %s)", d, MinCertExpiry, DefaultCertExpiry)
	case d > RootValidity:
		return fmt.Errorf("certificate expiry %s is longer than the cluster CA's life %s: pass a shorter --cert-expiry (default %s)", d, RootValidity, DefaultCertExpiry)
	}
	return nil
}

// Issue signs a node certificate for the public key of csrPEM: CN nodeID,
// OU role, O the cluster ID, valid from now for expiry. The request's own
// subject is ignored: the manager, not the node, decides who the node is.
func (r *RootCA) Issue(csrPEM []byte, nodeID string, role Role, expiry time.Duration, now time.Time) ([]byte, error) {
	if r.key == nil {
		return nil, errors.New("issue certificate: this node does not hold the cluster CA key")
	}
	if nodeID == "" {
		return nil, errors.New("issue certificate: empty node ID")
	}
	if !role.valid() {
		return nil, fmt.Errorf("issue certificate: invalid role %q: want %s or %s", role, RoleWorker, RoleManager)
	}
	if err := CheckExpiry(expiry); err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	notAfter := now.Add(expiry)
	if notAfter.After(r.Cert.NotAfter) {
		// A certificate never outlives its issuer; it renews before then.
		notAfter = r.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         nodeID,
			OrganizationalUnit: []string{string(role)},
			Organization:       []string{r.ClusterID()},
		},
		// Nodes reach each other by address, which the certificate does
		// not name: peers check the identity (CN, OU, O) instead of a
		// host name, as swarmkit does with its fixed "swarm-manager" name.
		DNSNames:    []string{string(role) + ".shoal", nodeID},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.Cert, csr.PublicKey, r.key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	return encodePEM("CERTIFICATE", der), nil
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func encodePEM(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// parseCertPEM returns the first certificate of data, which must hold
// one PEM block of type CERTIFICATE.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate request: %w", err)
	}
	// The key's kind first: no signature of another algorithm (a huge
	// RSA key) is worked on.
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("certificate request: key must be ECDSA P-256")
	}
	// The signature proves the node holds the key it asks a certificate for.
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	return csr, nil
}
