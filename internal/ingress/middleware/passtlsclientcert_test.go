package middleware

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/shoalproject/shoal/internal/testutil"
)

// passtlsclientcert passes the client's certificate (pem) and its fields
// (info) as Traefik's, and removes both headers when there is none, so
// that a client cannot set them.
func TestPassTLSClientCert(t *testing.T) {
	_, leaf := testutil.SelfSignedCert(t, "client.example", "10.1.2.3")
	withCert := func() *http.Request {
		r := req("GET", "/", headerClientCert+": forged", headerClientCertInfo+": forged")
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
		return r
	}
	_, s := serve(t, "passtlsclientcert", opts("pem=true", "info.subject.commonName=true", "info.notAfter=true", "info.sans=true"), withCert())
	if got, want := s.header.Get(headerClientCert), url.QueryEscape(base64.StdEncoding.EncodeToString(leaf.Raw)); got != want {
		t.Errorf("%s = %q, want %q", headerClientCert, got, want)
	}
	wantInfo := url.QueryEscape(`Subject="CN=client.example";NA="` + strconv.FormatInt(leaf.NotAfter.Unix(), 10) + `";SAN="client.example,10.1.2.3"`)
	if got := s.header.Get(headerClientCertInfo); got != wantInfo {
		t.Errorf("%s = %q, want %q", headerClientCertInfo, got, wantInfo)
	}
	// No certificate: the client's own headers do not pass.
	_, s = serve(t, "passtlsclientcert", opts("pem=true"), req("GET", "/", headerClientCert+": forged", headerClientCertInfo+": forged"))
	if s.header.Get(headerClientCert) != "" || s.header.Get(headerClientCertInfo) != "" {
		t.Errorf("without a certificate: %v", s.header)
	}
	wantErr(t, "passtlsclientcert", nil, "pem=true or an info option")
	wantErr(t, "passtlsclientcert", opts("info.subject.domainComponent=true"), "info.subject.domainComponent", "unknown option")
}
