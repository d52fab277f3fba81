package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Authorized wraps h so that only requests bearing token (Prometheus'
// `authorization: {credentials_file: …}`) reach it: a TCP listener must
// authenticate its peer, and Prometheus sends a bearer token where it
// cannot present a client certificate of the cluster.
func Authorized(token []byte, h http.Handler) http.Handler {
	want := sha256.Sum256(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal metrics"`)
			http.Error(w, "unauthorized: send the metrics token as a bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ReadToken reads a bearer token from path: a regular file readable by
// its owner only, holding at least 16 bytes.
func ReadToken(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("metrics token: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("metrics token %s: want a regular file readable by its owner only (chmod 600)", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metrics token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return nil, fmt.Errorf("metrics token %s: want at least 16 characters", path)
	}
	return []byte(tok), nil
}

// Server is the metrics listener's HTTP server: /metrics and /sd (the
// scrape targets, a manager's only: sd nil serves none), bounded in time
// like the API's.
func Server(h, sd http.Handler, token []byte) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	if sd != nil {
		mux.Handle("GET /sd", sd)
	}
	return &http.Server{Handler: Authorized(token, mux), ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
}
