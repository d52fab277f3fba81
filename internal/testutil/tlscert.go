package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// SelfSignedCert makes a certificate, valid for an hour, for names (DNS
// names or IP addresses; the first is also its common name), and returns
// it with its parsed leaf, which a client can trust as its own root.
func SelfSignedCert(t testing.TB, names ...string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	return selfSigned(t, x509.ExtKeyUsageServerAuth, names)
}

// SelfSignedClientCert is SelfSignedCert for a client certificate, which
// a server can trust as its own CA.
func SelfSignedClientCert(t testing.TB, name string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	return selfSigned(t, x509.ExtKeyUsageClientAuth, []string{name})
}

func selfSigned(t testing.TB, usage x509.ExtKeyUsage, names []string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// SelfSignedPEM is SelfSignedCert as PEM: the certificate, and its key
// in PKCS #8.
func SelfSignedPEM(t testing.TB, names ...string) (certPEM, keyPEM []byte, leaf *x509.Certificate) {
	t.Helper()
	cert, leaf := SelfSignedCert(t, names...)
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), leaf
}
