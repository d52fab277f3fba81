package middleware

import (
	"crypto/tls"
	"net/http"
	"testing"
)

// Examples from Traefik's headers documentation: custom headers, CORS
// and security headers.
func TestHeaders(t *testing.T) {
	cors := opts("accessControlAllowMethods=GET,OPTIONS,PUT", "accessControlAllowHeaders=*",
		"accessControlAllowOriginList=https://foo.bar.org,https://example.org", "accessControlMaxAge=100", "addVaryHeader=true")
	tests := []struct {
		name        string
		opts        []Option
		method      string
		tls         bool
		reqHeaders  []string
		backend     []string          // headers the backend sets
		wantCode    int               // 0: 200 from the backend
		wantCalled  bool              // the backend was reached
		wantReq     map[string]string // what the backend saw ("" absent)
		wantResp    map[string]string
		wantReqHost string
	}{
		{name: "custom", opts: opts("customRequestHeaders.X-Script-Name=test", "customRequestHeaders.X-Custom-Request-Header=", "customResponseHeaders.X-Custom-Response-Header=", "customResponseHeaders.X-New=v"),
			reqHeaders: []string{"X-Custom-Request-Header: drop me"}, backend: []string{"X-Custom-Response-Header: drop me"},
			wantCalled: true,
			wantReq:    map[string]string{"X-Script-Name": "test", "X-Custom-Request-Header": ""},
			wantResp:   map[string]string{"X-Custom-Response-Header": "", "X-New": "v"}},
		{name: "host", opts: opts("customRequestHeaders.Host=backend.local"), wantCalled: true, wantReqHost: "backend.local"},
		{name: "preflight", opts: cors, method: "OPTIONS", reqHeaders: []string{"Origin: https://example.org", "Access-Control-Request-Method: PUT"},
			wantCode: 200, wantCalled: false,
			wantResp: map[string]string{"Access-Control-Allow-Origin": "https://example.org", "Access-Control-Allow-Methods": "GET,OPTIONS,PUT", "Access-Control-Allow-Headers": "*", "Access-Control-Max-Age": "100"}},
		{name: "preflight other origin", opts: cors, method: "OPTIONS", reqHeaders: []string{"Origin: https://evil.example", "Access-Control-Request-Method: PUT"},
			wantCode: 200, wantCalled: false, wantResp: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "cors response", opts: cors, reqHeaders: []string{"Origin: https://foo.bar.org"}, backend: []string{"Vary: Accept-Encoding"}, wantCalled: true,
			wantResp: map[string]string{"Access-Control-Allow-Origin": "https://foo.bar.org", "Vary": "Accept-Encoding,Origin"}},
		{name: "cors regex creds expose", opts: opts("accessControlAllowOriginListRegex=^https://.*\\.example\\.com$", "accessControlAllowCredentials=true", "accessControlExposeHeaders=X-A,X-B"),
			reqHeaders: []string{"Origin: https://a.example.com"}, wantCalled: true,
			wantResp: map[string]string{"Access-Control-Allow-Origin": "https://a.example.com", "Access-Control-Allow-Credentials": "true", "Access-Control-Expose-Headers": "X-A,X-B"}},
		{name: "options without cors passes", opts: opts("frameDeny=true"), method: "OPTIONS", reqHeaders: []string{"Origin: https://x", "Access-Control-Request-Method: PUT"}, wantCalled: true},
		{name: "security", opts: opts("frameDeny=true", "contentTypeNosniff=true", "browserXssFilter=true", "referrerPolicy=no-referrer", "contentSecurityPolicy=default-src 'self'", "permissionsPolicy=camera=()", "stsSeconds=31536000", "stsIncludeSubdomains=true", "stsPreload=true"),
			tls: true, backend: []string{"X-Frame-Options: SAMEORIGIN"}, wantCalled: true,
			wantResp: map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "X-Xss-Protection": "1; mode=block",
				"Referrer-Policy": "no-referrer", "Content-Security-Policy": "default-src 'self'", "Permissions-Policy": "camera=()",
				"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload"}},
		{name: "sts not on plain http", opts: opts("stsSeconds=60"), wantCalled: true, wantResp: map[string]string{"Strict-Transport-Security": ""}},
		{name: "sts forced", opts: opts("stsSeconds=60", "forceSTSHeader=true"), wantCalled: true, wantResp: map[string]string{"Strict-Transport-Security": "max-age=60"}},
		{name: "custom values", opts: opts("customFrameOptionsValue=SAMEORIGIN", "customBrowserXSSValue=0"), wantCalled: true,
			wantResp: map[string]string{"X-Frame-Options": "SAMEORIGIN", "X-Xss-Protection": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := req(method, "http://foo.com/", tt.reqHeaders...)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			rec, s := serve(t, "headers", tt.opts, r, tt.backend...)
			if s.called != tt.wantCalled || rec.Code != http.StatusOK {
				t.Fatalf("status %d called %v, want 200 called %v", rec.Code, s.called, tt.wantCalled)
			}
			for k, v := range tt.wantReq {
				if got := s.header.Get(k); got != v {
					t.Errorf("backend saw %s = %q, want %q", k, got, v)
				}
			}
			for k, v := range tt.wantResp {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("response %s = %q, want %q", k, got, v)
				}
			}
			if tt.wantReqHost != "" && s.host != tt.wantReqHost {
				t.Errorf("backend saw Host %q, want %q", s.host, tt.wantReqHost)
			}
		})
	}
	wantErr(t, "headers", opts("sslRedirect=true"), "sslRedirect", "redirectscheme")
	wantErr(t, "headers", opts("allowedHosts=a.com"), "allowedHosts", "not supported")
	wantErr(t, "headers", opts("customRequestHeaders.Bad Name=x"), "not a header name")
	wantErr(t, "headers", opts("stsSeconds=-1"), "stsSeconds")
}

// Header names and values from labels are refused when net/http would
// refuse to send them (a line break, a control character): a request
// header made every request fail (502) and a response header was
// silently altered, where failing closed names the label.
func TestHeaderLabelsRefuseControlCharacters(t *testing.T) {
	wantErr(t, "headers", opts("customRequestHeaders.X-A=a\r\nX-Evil: 1"), "customRequestHeaders.X-A", "control character")
	wantErr(t, "headers", opts("customResponseHeaders.X-A=a\nSet-Cookie: s=1"), "customResponseHeaders.X-A", "control character")
	wantErr(t, "headers", opts("contentSecurityPolicy=default-src 'self'\r\nX: y"), "contentSecurityPolicy", "control character")
	wantErr(t, "headers", opts("accessControlAllowHeaders=a\rb"), "accessControlAllowHeaders", "control character")
	wantErr(t, "basicauth", opts("users=a:"+bcryptHash, "headerField=X-User\r\nX-Admin"), "headerField", "not a header name")
	wantErr(t, "digestauth", opts("users="+digestUser, "headerField=X User"), "headerField", "not a header name")
	wantErr(t, "forwardauth", opts("address=http://auth", "authResponseHeaders=X-User,X:Y"), "authResponseHeaders", "not a header name")
	if _, err := New("headers", opts("customRequestHeaders.X-A=a\tb", "contentSecurityPolicy=default-src 'self'")); err != nil {
		t.Errorf("a tab and plain values: %v", err)
	}
}
