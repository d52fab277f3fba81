package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
)

// NewKeyAndCSR makes a node's private key and a certificate signing
// request for it. The key stays on the node; only the request, which
// holds the public key and a signature proving possession, is sent.
func NewKeyAndCSR() (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("new node key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		// Ignored by the issuer, which names the node itself.
		Subject: pkix.Name{CommonName: "shoal-node"},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("new certificate request: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("new node key: %w", err)
	}
	return encodePEM("EC PRIVATE KEY", kder), encodePEM("CERTIFICATE REQUEST", der), nil
}

// File names of a node's identity in its data folder.
const (
	NodeCertFile = "node.crt"
	NodeKeyFile  = "node.key"
	RootCertFile = "ca.crt"
)

// NodeIdentity is what a node keeps to prove who it is: its certificate
// and key, and the cluster root it trusts.
type NodeIdentity struct {
	// Cert is the node's certificate and key, ready for crypto/tls.
	Cert tls.Certificate
	// Root is the cluster's root certificate (no key).
	Root *RootCA
	// ID is what Cert says about the node.
	ID Identity
}

// NewNodeIdentity checks that certPEM was issued by root for keyPEM and
// returns it.
func NewNodeIdentity(certPEM, keyPEM, rootPEM []byte) (*NodeIdentity, error) {
	root, err := ParseRootCert(rootPEM)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	// Expiry is not checked here: an expired identity is still loaded so
	// the caller can say so and ask to rejoin.
	var serr error
	var issuer *x509.Certificate
	for _, c := range root.roots() {
		if serr = leaf.CheckSignatureFrom(c); serr == nil {
			issuer = c
			break
		}
	}
	if serr != nil {
		return nil, fmt.Errorf("node certificate: not issued by the cluster CA: %w", serr)
	}
	id, err := ParseIdentity(leaf, root.ClusterID())
	if err != nil {
		return nil, err
	}
	id.RootDigest = digestOf(issuer.Raw)
	pair.Leaf = leaf
	return &NodeIdentity{Cert: pair, Root: root, ID: id}, nil
}

// SaveNodeIdentity writes a node's certificate, key and root into dir,
// each file mode 0600 and replaced whole (written aside, then renamed),
// so a crash never leaves a certificate without its key.
func SaveNodeIdentity(dir string, certPEM, keyPEM, rootPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save node identity: %w", err)
	}
	// The key first: a new certificate without its new key would not load.
	for _, f := range []struct {
		name string
		data []byte
	}{{NodeKeyFile, keyPEM}, {NodeCertFile, certPEM}, {RootCertFile, rootPEM}} {
		if err := WriteFile0600(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("save node identity: %w", err)
		}
	}
	return nil
}

// LoadNodeIdentity reads what SaveNodeIdentity wrote. It returns an error
// wrapping os.ErrNotExist when the node has no identity yet (it must join
// with a token).
func LoadNodeIdentity(dir string) (*NodeIdentity, error) {
	if err := finishReplace(dir); err != nil {
		return nil, fmt.Errorf("load node identity: finish the renewal a crash interrupted: %w", err)
	}
	var data [3][]byte
	for i, name := range []string{NodeCertFile, NodeKeyFile, RootCertFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("load node identity: %w", err)
		}
		data[i] = b
	}
	id, err := NewNodeIdentity(data[0], data[1], data[2])
	if err != nil {
		return nil, fmt.Errorf("load node identity from %s: %w (remove %s and %s to join again with a token)",
			dir, err, NodeCertFile, NodeKeyFile)
	}
	return id, nil
}

// WriteFile0600 replaces the file at path with data, mode 0600, whole:
// written aside, synced, then renamed.
func WriteFile0600(path string, data []byte) error {
	tmp := path + ".tmp"
	// A leftover temporary (a crash) keeps its mode through O_TRUNC, and
	// a symbolic link there would be followed: start from none, and
	// O_EXCL, which never follows a link.
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
