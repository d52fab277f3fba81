package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"
)

// RoleOperator is the OU of an operator's certificate: a person or tool
// on a manager's TCP API listener (`shoal swarm ca --issue-client`). It
// is not a node role: ParseIdentity refuses it, so an operator
// certificate never passes for a node on the cluster port, and
// VerifyOperator refuses the node roles, so a node's certificate never
// passes for an operator (nothing trusts what a node says).
const RoleOperator Role = "operator"

// operatorName is what an operator certificate may be named: short, and
// safe to print in logs.
var operatorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)

// CheckOperatorName returns an error unless name may name an operator
// certificate.
func CheckOperatorName(name string) error {
	if !operatorName.MatchString(name) {
		return fmt.Errorf("invalid operator name %.70q: want 1 to 64 letters, digits and _.@- (starting with a letter or digit)", name)
	}
	return nil
}

// IssueOperator signs an operator certificate for the public key of
// csrPEM: CN name, OU RoleOperator, O the cluster ID, for client use
// only (it cannot serve), valid from now for expiry.
func (r *RootCA) IssueOperator(csrPEM []byte, name string, expiry time.Duration, now time.Time) ([]byte, error) {
	if r.key == nil {
		return nil, errors.New("issue operator certificate: this node does not hold the cluster CA key")
	}
	if err := CheckOperatorName(name); err != nil {
		return nil, fmt.Errorf("issue operator certificate: %w", err)
	}
	if err := CheckExpiry(expiry); err != nil {
		return nil, fmt.Errorf("issue operator certificate: %w", err)
	}
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("issue operator certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         name,
			OrganizationalUnit: []string{string(RoleOperator)},
			Organization:       []string{r.ClusterID()},
		},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := r.sign(tmpl, csr.PublicKey, expiry, now)
	if err != nil {
		return nil, fmt.Errorf("issue operator certificate: %w", err)
	}
	return encodePEM("CERTIFICATE", der), nil
}

// sign completes tmpl (serial, validity capped at r's own) and signs it.
func (r *RootCA) sign(tmpl *x509.Certificate, pub any, expiry time.Duration, now time.Time) ([]byte, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(expiry)
	if tmpl.NotAfter.After(r.Cert.NotAfter) {
		tmpl.NotAfter = r.Cert.NotAfter
	}
	return x509.CreateCertificate(rand.Reader, tmpl, r.Cert, pub, r.key)
}

// VerifyOperator checks that chain[0] is an operator certificate issued
// by one of the roots r trusts, valid at now, and returns its name. A
// node's certificate (worker or manager) is refused.
func (r *RootCA) VerifyOperator(chain []*x509.Certificate, now time.Time) (string, error) {
	if len(chain) == 0 {
		return "", errors.New("no client certificate presented: the API takes operator certificates (shoal swarm ca --issue-client)")
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: r.Pool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", fmt.Errorf("client certificate %.64q not issued by this cluster's CA, or expired: %w", leaf.Subject.CommonName, err)
	}
	s := leaf.Subject
	if len(s.OrganizationalUnit) != 1 || Role(s.OrganizationalUnit[0]) != RoleOperator {
		return "", fmt.Errorf("client certificate %.64q has role %q, not %s: the API takes operator certificates only, never a node's",
			s.CommonName, s.OrganizationalUnit, RoleOperator)
	}
	if len(s.Organization) != 1 || s.Organization[0] != r.ClusterID() {
		return "", fmt.Errorf("client certificate %.64q is for cluster %q, not this cluster", s.CommonName, s.Organization)
	}
	if err := CheckOperatorName(s.CommonName); err != nil {
		return "", err
	}
	return s.CommonName, nil
}

// IssueAPIServer makes a key and a server certificate for a manager's
// TCP API listener, signed by sign: CN the manager's node ID, OU
// manager, the names and addresses in hosts as SANs (clients check the
// host they dial, as the docker CLI does), server use only. The key
// stays in the manager's memory.
func IssueAPIServer(sign *RootCA, nodeID string, hosts []string, expiry time.Duration, now time.Time) (tls.Certificate, error) {
	if sign.key == nil {
		return tls.Certificate{}, errors.New("issue API certificate: this node does not hold the cluster CA key")
	}
	if expiry == 0 {
		expiry = DefaultCertExpiry
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue API certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         nodeID,
			OrganizationalUnit: []string{string(RoleManager)},
			Organization:       []string{sign.ClusterID()},
		},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := sign.sign(tmpl, key.Public(), expiry, now)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue API certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue API certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
