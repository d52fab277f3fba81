package middleware

import "testing"

// Examples from Traefik's documentation of stripprefix, stripprefixregex,
// addprefix, replacepath and replacepathregex.
func TestPathMiddlewares(t *testing.T) {
	tests := []struct {
		name       string
		typ        string
		opts       []Option
		target     string
		wantPath   string
		wantRaw    string
		wantURI    string
		wantPrefix string // X-Forwarded-Prefix
		wantOld    string // X-Replaced-Path
	}{
		{"strip", "stripprefix", opts("prefixes=/foobar,/fiibar"), "/foobar/x?a=1", "/x", "", "/x?a=1", "/foobar", ""},
		{"strip second", "stripprefix", opts("prefixes=/foobar,/fiibar"), "/fiibar/", "/", "", "/", "/fiibar", ""},
		{"strip whole", "stripprefix", opts("prefixes=/foobar"), "/foobar", "", "", "/", "/foobar", ""},
		// Not Traefik's "/bar": a prefix ends at a segment's end, or
		// PathPrefix(`/api`) with stripprefix /api would send the task
		// /admin for /apiadmin, past PathPrefix(`/api/admin`)'s auth.
		{"strip mid-segment", "stripprefix", opts("prefixes=/foo"), "/foobar", "/foobar", "", "/foobar", "", ""},
		{"strip mid-segment dots", "stripprefix", opts("prefixes=/foo"), "/foo../admin", "/foo../admin", "", "/foo../admin", "", ""},
		{"strip prefix with slash", "stripprefix", opts("prefixes=/foo/"), "/foo/bar", "/bar", "", "/bar", "/foo/", ""},
		{"strip regex mid-segment", "stripprefixregex", opts("regex=/[a-z]+"), "/api/x", "/x", "", "/x", "/api", ""},
		{"strip regex mid-segment miss", "stripprefixregex", opts("regex=/ap"), "/api/x", "/api/x", "", "/api/x", "", ""},
		{"strip miss", "stripprefix", opts("prefixes=/foobar"), "/other", "/other", "", "/other", "", ""},
		{"strip encoded", "stripprefix", opts("prefixes=/api"), "/api/a%2Fb", "/a/b", "/a%2Fb", "/a%2Fb", "/api", ""},
		{"strip regex", "stripprefixregex", opts("regex=/foo/[a-z0-9]+/[0-9]+/"), "/foo/abc/123/bar", "/bar", "", "/bar", "/foo/abc/123/", ""},
		{"strip regex not at start", "stripprefixregex", opts("regex=/foo"), "/x/foo/bar", "/x/foo/bar", "", "/x/foo/bar", "", ""},
		{"add", "addprefix", opts("prefix=/foo"), "/bar?q", "/foo/bar", "", "/foo/bar?q", "", ""},
		{"replace", "replacepath", opts("path=/foo"), "/bar/baz?q", "/foo", "", "/foo?q", "", "/bar/baz"},
		{"replace regex", "replacepathregex", opts("regex=^/foo/(.*)", "replacement=/bar/$1"), "/foo/x/y", "/bar/x/y", "", "/bar/x/y", "", "/foo/x/y"},
		{"replace regex miss", "replacepathregex", opts("regex=^/foo/(.*)", "replacement=/bar/$1"), "/baz", "/baz", "", "/baz", "", ""},
		{"replace regex escaped", "replacepathregex", opts("regex=^/a/(.*)", "replacement=/b/$1"), "/a/x%20y", "/b/x y", "", "/b/x%20y", "", "/a/x%20y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := serve(t, tt.typ, tt.opts, req("GET", tt.target))
			if rec.Code != 200 || !s.called {
				t.Fatalf("status %d, called %v", rec.Code, s.called)
			}
			if s.path != tt.wantPath || s.rawPath != tt.wantRaw || s.uri != tt.wantURI {
				t.Errorf("path %q raw %q uri %q, want %q %q %q", s.path, s.rawPath, s.uri, tt.wantPath, tt.wantRaw, tt.wantURI)
			}
			if got := s.header.Get(ForwardedPrefixHeader); got != tt.wantPrefix {
				t.Errorf("X-Forwarded-Prefix = %q, want %q", got, tt.wantPrefix)
			}
			if got := s.header.Get(ReplacedPathHeader); got != tt.wantOld {
				t.Errorf("X-Replaced-Path = %q, want %q", got, tt.wantOld)
			}
		})
	}
}

func TestPathMiddlewareErrors(t *testing.T) {
	wantErr(t, "stripprefix", nil, "prefixes", "required")
	wantErr(t, "stripprefix", opts("prefixes=/a", "forceSlash=true"), "forceSlash", "removed in Traefik v3")
	wantErr(t, "stripprefixregex", opts("regex=("), "regex", "not a regular expression")
	wantErr(t, "addprefix", nil, "prefix", "required")
	wantErr(t, "replacepath", opts("path=/a%zz"), "malformed escape")
	wantErr(t, "replacepathregex", opts("regex=^/a"), "replacement", "required")
}
