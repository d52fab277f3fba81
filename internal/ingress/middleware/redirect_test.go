package middleware

import (
	"crypto/tls"
	"net/http"
	"testing"
)

// Examples from Traefik's redirectscheme and redirectregex documentation.
func TestRedirect(t *testing.T) {
	tests := []struct {
		name         string
		typ          string
		opts         []Option
		method       string
		target       string
		tls          bool
		headers      []string
		wantCode     int // 200: passed on
		wantLocation string
	}{
		{"to https", "redirectscheme", opts("scheme=https"), "GET", "http://foo.com/bar?q=1", false, nil, 302, "https://foo.com/bar?q=1"},
		{"permanent", "redirectscheme", opts("scheme=https", "permanent=true"), "GET", "http://foo.com/bar", false, nil, 301, "https://foo.com/bar"},
		{"post", "redirectscheme", opts("scheme=https"), "POST", "http://foo.com/bar", false, nil, 307, "https://foo.com/bar"},
		{"post permanent", "redirectscheme", opts("scheme=https", "permanent=true"), "POST", "http://foo.com/bar", false, nil, 308, "https://foo.com/bar"},
		{"port", "redirectscheme", opts("scheme=https", "port=8443"), "GET", "http://foo.com:8080/bar", false, nil, 302, "https://foo.com:8443/bar"},
		{"default port dropped", "redirectscheme", opts("scheme=https", "port=443"), "GET", "http://foo.com:8080/bar", false, nil, 302, "https://foo.com/bar"},
		{"already https", "redirectscheme", opts("scheme=https"), "GET", "https://foo.com/bar", true, nil, 200, ""},
		{"forwarded https", "redirectscheme", opts("scheme=https"), "GET", "http://foo.com/bar", false, []string{"X-Forwarded-Proto: https"}, 200, ""},
		{"to http", "redirectscheme", opts("scheme=http"), "GET", "https://foo.com/bar", true, nil, 302, "http://foo.com/bar"},
		{"ipv6 host", "redirectscheme", opts("scheme=https"), "GET", "http://[::1]:80/x", false, nil, 302, "https://[::1]/x"},
		{"regex", "redirectregex", opts("regex=^http://localhost/(.*)", "replacement=http://mydomain/${1}"), "GET", "http://localhost/foo", false, nil, 302, "http://mydomain/foo"},
		{"regex permanent", "redirectregex", opts("regex=^http://localhost/(.*)", "replacement=http://mydomain/${1}", "permanent=true"), "GET", "http://localhost/foo", false, nil, 301, "http://mydomain/foo"},
		{"regex miss", "redirectregex", opts("regex=^http://localhost/(.*)", "replacement=http://mydomain/${1}"), "GET", "http://other/foo", false, nil, 200, ""},
		{"regex same", "redirectregex", opts("regex=^(.*)$", "replacement=$1"), "GET", "http://a/b", false, nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req(tt.method, tt.target, tt.headers...)
			r.RequestURI = r.URL.RequestURI() // origin form, as a server sees it
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			} else {
				r.TLS = nil
			}
			rec, s := serve(t, tt.typ, tt.opts, r)
			if rec.Code != tt.wantCode || s.called != (tt.wantCode == 200) {
				t.Fatalf("status %d (called %v), want %d", rec.Code, s.called, tt.wantCode)
			}
			if got := rec.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			if tt.wantCode != 200 && rec.Body.String() != http.StatusText(tt.wantCode) {
				t.Errorf("body = %q", rec.Body.String())
			}
		})
	}
	wantErr(t, "redirectscheme", opts("permanent=true"), "scheme", "required")
	wantErr(t, "redirectregex", opts("regex=^a"), "replacement", "required")
	wantErr(t, "redirectregex", opts("regex=(", "replacement=x"), "regex")
}
