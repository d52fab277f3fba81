package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalproject/shoal/api"
)

// ErrNeedTLS is returned for a tcp:// host without a client certificate:
// shoal's API is never spoken in plain HTTP over TCP.
var ErrNeedTLS = errors.New("a tcp:// host needs an operator certificate (mutual TLS): pass --tlsverify --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem, " +
	"or set SHOAL_CERT_PATH to a folder holding them and SHOAL_TLS_VERIFY=1, or use a context (shoal context create NAME --host tcp://HOST:PORT --cert-path DIR); " +
	"`shoal swarm ca --issue-client NAME --out DIR` on a manager makes them")

// TLSFiles name the files of an operator certificate, as the docker
// CLI's --tlscacert, --tlscert and --tlskey.
type TLSFiles struct {
	// CA holds the roots the manager's certificate must chain to.
	CA string
	// Cert and Key are the client certificate and its private key.
	Cert, Key string
}

// File names in a certificate folder, docker's (DOCKER_CERT_PATH).
const (
	CAFile   = "ca.pem"
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// TLSFilesIn is the certificate folder dir's files: ca.pem, cert.pem,
// key.pem.
func TLSFilesIn(dir string) *TLSFiles {
	return &TLSFiles{CA: filepath.Join(dir, CAFile), Cert: filepath.Join(dir, CertFile), Key: filepath.Join(dir, KeyFile)}
}

// config reads the files into a client configuration: TLS 1.2 or newer,
// the client certificate shown, the server's checked against CA and the
// host dialled.
func (f *TLSFiles) config() (*tls.Config, error) {
	for _, p := range []struct{ path, flag string }{{f.CA, "--tlscacert"}, {f.Cert, "--tlscert"}, {f.Key, "--tlskey"}} {
		if p.path == "" {
			return nil, fmt.Errorf("TLS: no file for %s: %w", p.flag, ErrNeedTLS)
		}
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("TLS: read the CA certificate (--tlscacert): %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("TLS: %s holds no PEM certificate (--tlscacert)", f.CA)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("TLS: load the client certificate %s and key %s (--tlscert, --tlskey): %w", f.Cert, f.Key, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{pair}, VerifyConnection: verifyManager}, nil
}

// managerOU is the OU of a manager's API certificate (ca.RoleManager).
const managerOU = "manager"

// verifyManager refuses a server certificate, verified against the CA
// and the host dialled, that is not a manager's: a worker's certificate
// of the same cluster names its node ID and "worker.shoal", so whoever
// answers on such a name must not pass for the API.
func verifyManager(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server showed no certificate")
	}
	s := cs.PeerCertificates[0].Subject
	if len(s.OrganizationalUnit) != 1 || s.OrganizationalUnit[0] != managerOU {
		return fmt.Errorf("the server's certificate (%.64q, OU %q) is not a manager's: its API is served by managers only", s.CommonName, s.OrganizationalUnit)
	}
	return nil
}

// tlsHint says what a TLS failure most likely means, empty for another
// error.
func tlsHint(err error) string {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	switch {
	case errors.As(err, &herr):
		return "the manager's certificate does not name this host: dial it by a name or address it names, or restart it with --api-san HOST"
	case errors.As(err, &uerr), errors.As(err, &verr):
		return "the manager's certificate is not from the CA in --tlscacert: get ca.pem again (`shoal swarm ca --issue-client`), e.g. after a CA rotation"
	case err != nil && strings.Contains(err.Error(), "remote error: tls"):
		return "the manager refused this client certificate: it takes operator certificates of its cluster's CA only (`shoal swarm ca --issue-client`), not a node's; after a CA rotation, issue a new one"
	}
	return ""
}

// IssueOperatorCert asks the manager for an operator certificate of the
// cluster CA for the key of req.CSR.
func (c *Client) IssueOperatorCert(ctx context.Context, req api.OperatorCertRequest) (*api.OperatorCert, error) {
	var out api.OperatorCert
	return &out, c.do(ctx, http.MethodPost, "/v1/swarm/ca/operator", nil, req, &out)
}
