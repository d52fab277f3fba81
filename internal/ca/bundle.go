package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// A node trusts a bundle of roots: the cluster's root, and during a CA
// rotation (`swarm ca --rotate`) also the root it replaces, so that the
// nodes that still hold certificates of the old root and those that got
// one of the new stay connected. In PEM, a bundle is the root first,
// then the others; ca.crt holds it.

// WithPrevious returns r trusting prev too (r's key kept): the bundle of
// a rotation from prev to r.
func (r *RootCA) WithPrevious(prev *RootCA) *RootCA {
	out := *r
	out.also = []*x509.Certificate{prev.Cert}
	return &out
}

// Alone returns r trusting only itself.
func (r *RootCA) Alone() *RootCA {
	out := *r
	out.also = nil
	return &out
}

// Previous is the root r trusts beside itself during a rotation, nil
// otherwise.
func (r *RootCA) Previous() *x509.Certificate {
	if len(r.also) == 0 {
		return nil
	}
	return r.also[0]
}

// roots is every root r trusts, its own first.
func (r *RootCA) roots() []*x509.Certificate {
	return append([]*x509.Certificate{r.Cert}, r.also...)
}

// BundlePEM is every root r trusts in PEM, its own first: what a node
// keeps in ca.crt.
func (r *RootCA) BundlePEM() []byte {
	var b bytes.Buffer
	b.Write(r.CertPEM)
	for _, c := range r.also {
		b.Write(encodePEM("CERTIFICATE", c.Raw))
	}
	return b.Bytes()
}

// TrustDigest names the set of roots r trusts: a manager sends it with
// every agent-link answer, and a node whose own differs renews its
// certificate (and gets the managers' bundle) at once.
func (r *RootCA) TrustDigest() string {
	var raw []byte
	for _, c := range r.roots() {
		raw = append(raw, c.Raw...)
	}
	return digestOf(raw)
}

// Trusts reports whether the root of the digest (Digest's form) is one
// r trusts.
func (r *RootCA) Trusts(digest string) bool {
	return slices.ContainsFunc(r.roots(), func(c *x509.Certificate) bool { return digestOf(c.Raw) == digest })
}

// parseBundle reads the roots of a PEM bundle: one or more CA
// certificates with ECDSA keys, all of one cluster.
func parseBundle(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a PEM block of type %q, not CERTIFICATE", b.Type)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			return nil, errors.New("not a CA certificate")
		}
		if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
			return nil, errors.New("key is not ECDSA")
		}
		if len(out) > 0 && !slices.Equal(cert.Subject.Organization, out[0].Subject.Organization) {
			return nil, fmt.Errorf("roots of two clusters (%q and %q)", out[0].Subject.Organization, cert.Subject.Organization)
		}
		out = append(out, cert)
		if len(out) > 2 {
			return nil, errors.New("more than two roots")
		}
	}
	if len(out) == 0 {
		return nil, errors.New("not a PEM certificate")
	}
	return out, nil
}
