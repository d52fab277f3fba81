package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalproject/shoal/internal/testutil"
)

// benchAuth is the middlewares variant's credentials: admin, password.
const benchAuth = "Basic YWRtaW46cGFzc3dvcmQ="

// writeBenchCert writes a self-signed certificate for 127.0.0.1 and its
// key, in one PEM file, for both proxies' TLS variant.
func writeBenchCert(b *testing.B, dir string) string {
	b.Helper()
	cert, key, _ := testutil.SelfSignedPEM(b, "127.0.0.1")
	file := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(file, append(cert, key...), 0o600); err != nil {
		b.Fatal(err)
	}
	return file
}

// checkAuth checks that url refuses a request without credentials, so
// that the middlewares variant measures the check.
func checkAuth(b *testing.B, url string) {
	b.Helper()
	resp, err := httpc.Get(url)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		b.Fatalf("GET %s without credentials: %d, want 401", url, resp.StatusCode)
	}
}
