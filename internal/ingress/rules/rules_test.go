package rules_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/ingress/rules"
)

// req builds a request: target is a URL or path; opts tweak it.
func req(method, target string, opts ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, o := range opts {
		o(r)
	}
	return r
}

func host(h string) func(*http.Request) { return func(r *http.Request) { r.Host = h } }
func hdr(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Add(k, v) }
}
func remote(a string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = a } }

func TestMatchers(t *testing.T) {
	cases := []struct {
		name string
		rule string
		req  *http.Request
		want bool
	}{
		// Host: case-insensitive, port and trailing dot ignored.
		{"host exact", "Host(`example.com`)", req("GET", "/", host("example.com")), true},
		{"host case", "Host(`Example.COM`)", req("GET", "/", host("eXample.com")), true},
		{"host port", "Host(`example.com`)", req("GET", "/", host("example.com:8080")), true},
		{"host trailing dot", "Host(`example.com`)", req("GET", "/", host("example.com.")), true},
		{"host other", "Host(`example.com`)", req("GET", "/", host("www.example.com")), false},
		{"host ipv6", "Host(`::1`)", req("GET", "/", host("[::1]:80")), true},
		{"host double quotes", `Host("example.com")`, req("GET", "/", host("example.com")), true},
		// HostRegexp: Go regexp on the lower-cased host without port.
		{"hostregexp", "HostRegexp(`^[a-z]+\\.example\\.com$`)", req("GET", "/", host("API.example.com:443")), true},
		{"hostregexp no", "HostRegexp(`^[a-z]+\\.example\\.com$`)", req("GET", "/", host("example.com")), false},
		// Path: exact.
		{"path", "Path(`/a`)", req("GET", "/a"), true},
		{"path sub", "Path(`/a`)", req("GET", "/a/b"), false},
		{"path decoded unreserved", "Path(`/a b`)", req("GET", "/a%20b"), true},
		{"path keeps encoded slash", "Path(`/a/b`)", req("GET", "/a%2Fb"), false},
		{"path encoded slash literal", "Path(`/a%2Fb`)", req("GET", "/a%2fb"), true},
		// PathPrefix: plain prefix.
		{"prefix", "PathPrefix(`/api`)", req("GET", "/api/v1"), true},
		{"prefix plain", "PathPrefix(`/api`)", req("GET", "/apix"), true},
		{"prefix root", "PathPrefix(`/`)", req("GET", "/anything"), true},
		{"prefix no", "PathPrefix(`/api`)", req("GET", "/ap"), false},
		// PathRegexp: unanchored, as Traefik.
		{"pathregexp", "PathRegexp(`^/users/[0-9]+$`)", req("GET", "/users/42"), true},
		{"pathregexp no", "PathRegexp(`^/users/[0-9]+$`)", req("GET", "/users/x"), false},
		{"pathregexp unanchored", "PathRegexp(`[0-9]`)", req("GET", "/v2/x"), true},
		// Method.
		{"method", "Method(`POST`)", req("POST", "/"), true},
		{"method lower", "Method(`post`)", req("POST", "/"), true},
		{"method no", "Method(`POST`)", req("GET", "/"), false},
		// Header: exact value among the header's values; canonical key.
		{"header", "Header(`X-Env`, `prod`)", req("GET", "/", hdr("X-Env", "prod")), true},
		{"header key case", "Header(`x-env`, `prod`)", req("GET", "/", hdr("X-ENV", "prod")), true},
		{"header second value", "Header(`X-Env`, `prod`)", req("GET", "/", hdr("X-Env", "dev"), hdr("X-Env", "prod")), true},
		{"header value case", "Header(`X-Env`, `prod`)", req("GET", "/", hdr("X-Env", "PROD")), false},
		{"header missing", "Header(`X-Env`, `prod`)", req("GET", "/"), false},
		{"header empty value = present", "Header(`X-Env`, ``)", req("GET", "/", hdr("X-Env", "x")), true},
		// HeaderRegexp.
		{"headerregexp", "HeaderRegexp(`User-Agent`, `(?i)curl`)", req("GET", "/", hdr("User-Agent", "Curl/8")), true},
		{"headerregexp no", "HeaderRegexp(`User-Agent`, `curl`)", req("GET", "/", hdr("User-Agent", "wget")), false},
		// Query.
		{"query", "Query(`v`, `2`)", req("GET", "/?a=1&v=2"), true},
		{"query other value", "Query(`v`, `2`)", req("GET", "/?v=3"), false},
		{"query repeated", "Query(`v`, `2`)", req("GET", "/?v=1&v=2"), true},
		{"query escaped", "Query(`a b`, `c&d`)", req("GET", "/?a+b=c%26d"), true},
		{"query one arg present empty", "Query(`debug`)", req("GET", "/?debug"), true},
		{"query one arg has value", "Query(`debug`)", req("GET", "/?debug=1"), false},
		{"query missing", "Query(`v`, `2`)", req("GET", "/"), false},
		// QueryRegexp.
		{"queryregexp", "QueryRegexp(`v`, `^[0-9]+$`)", req("GET", "/?v=12"), true},
		{"queryregexp no", "QueryRegexp(`v`, `^[0-9]+$`)", req("GET", "/?v=x"), false},
		// ClientIP: IP or CIDR, from RemoteAddr.
		{"clientip ip", "ClientIP(`10.0.0.7`)", req("GET", "/", remote("10.0.0.7:5555")), true},
		{"clientip cidr", "ClientIP(`10.0.0.0/8`)", req("GET", "/", remote("10.1.2.3:5555")), true},
		{"clientip no", "ClientIP(`10.0.0.0/8`)", req("GET", "/", remote("192.168.1.1:5555")), false},
		{"clientip v6", "ClientIP(`fd00::/8`)", req("GET", "/", remote("[fd00::1]:5555")), true},
		{"clientip mapped", "ClientIP(`10.0.0.0/8`)", req("GET", "/", remote("[::ffff:10.0.0.1]:5555")), true},
		{"clientip ignores xff", "ClientIP(`10.0.0.0/8`)", req("GET", "/", remote("192.168.1.1:5555"), hdr("X-Forwarded-For", "10.0.0.1")), false},
		// Matcher names case-insensitively.
		{"lower name", "host(`a`)", req("GET", "/", host("a")), true},
		{"upper name", "PATHPREFIX(`/`)", req("GET", "/"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := rules.Parse(c.rule)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.rule, err)
			}
			if got := r.Match(c.req); got != c.want {
				t.Errorf("%s on %s %s (Host %q) = %v, want %v", c.rule, c.req.Method, c.req.URL, c.req.Host, got, c.want)
			}
		})
	}
}

func TestOperators(t *testing.T) {
	a := req("GET", "/api", host("a.com"))
	b := req("GET", "/web", host("b.com"))
	post := req("POST", "/api", host("a.com"))
	cases := []struct {
		rule string
		req  *http.Request
		want bool
	}{
		{"Host(`a.com`) && PathPrefix(`/api`)", a, true},
		{"Host(`a.com`) && PathPrefix(`/web`)", a, false},
		{"Host(`a.com`) || Host(`b.com`)", b, true},
		{"!Host(`a.com`)", b, true},
		{"!Host(`a.com`)", a, false},
		{"!!Host(`a.com`)", a, true},
		{"!(Host(`a.com`) || Host(`b.com`))", b, false},
		// && binds tighter than ||: true || (false && false).
		{"Host(`a.com`) || Host(`b.com`) && Method(`POST`)", a, true},
		// Parentheses change it: (true || false) && false.
		{"(Host(`a.com`) || Host(`b.com`)) && Method(`POST`)", a, false},
		{"(Host(`a.com`) || Host(`b.com`)) && Method(`POST`)", post, true},
		// ! binds tighter than &&.
		{"!Method(`POST`) && Host(`a.com`)", a, true},
		{"!Method(`POST`) && Host(`a.com`)", post, false},
		{"((((Host(`a.com`)))))", a, true},
		{"Host(`a.com`) && !(PathPrefix(`/web`) || Method(`POST`))", a, true},
		{"Host(`a.com`) && !(PathPrefix(`/web`) || Method(`POST`))", post, false},
	}
	for _, c := range cases {
		r, err := rules.Parse(c.rule)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.rule, err)
		}
		if got := r.Match(c.req); got != c.want {
			t.Errorf("%s on %s %s%s = %v, want %v", c.rule, c.req.Method, c.req.Host, c.req.URL.Path, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ rule, want string }{
		{"", "empty rule"},
		{"   ", "empty rule"},
		{"Host(`a`", "syntax error"},
		{"Host(`a`) &", "syntax error"},
		{"Host(`a`) and Path(`/`)", "syntax error"},
		{"Hots(`a`)", "unknown matcher Hots"},
		{"Host", "not a matcher call"},
		{"Host()", "Host takes 1 argument, got 0"},
		{"Host(`a`, `b`)", "Host takes 1 argument, got 2"},
		{"Header(`X`)", "Header takes 2 arguments, got 1"},
		{"Query(`a`, `b`, `c`)", "Query takes 1 or 2 arguments, got 3"},
		{"Host(a)", "must be a string"},
		{"Host(1)", "must be a string"},
		{"Host('a')", "must be a string"},
		{"Path(`a`)", "does not start with /"},
		{"PathPrefix(`api`)", "does not start with /"},
		{"PathRegexp(`(`)", "PathRegexp"},
		{"HostRegexp(`[`)", "HostRegexp"},
		{"ClientIP(`10.0.0.0/33`)", "invalid CIDR"},
		{"ClientIP(`nope`)", "invalid IP"},
		{"Host(`é.com`)", "non-ASCII"},
		{"Host(`a`) + Path(`/`)", "unexpected operator"},
		{"-Host(`a`)", "unexpected operator"},
		{"`a`", "unexpected literal"},
		{"x.Host(`a`)", "want a matcher name"},
		{"Host(`a`...)", "unexpected ..."},
		{`Host("a\q")`, "syntax error"},
		{strings.Repeat("(", 20000) + "Host(`a`)" + strings.Repeat(")", 20000), "bytes long"},
	}
	for _, c := range cases {
		_, err := rules.Parse(c.rule)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error containing %q", c.rule, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", c.rule, err, c.want)
		}
	}
}

func TestErrorHasColumn(t *testing.T) {
	_, err := rules.Parse("Host(`a`) && Hots(`b`)")
	if err == nil || !strings.Contains(err.Error(), "column 14") {
		t.Fatalf("error = %v, want column 14", err)
	}
}

func TestString(t *testing.T) {
	const text = "Host(`a`) && Path(`/`)"
	r, err := rules.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != text {
		t.Fatalf("String() = %q", r.String())
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	r, err := rules.Parse("(Host(`shop.example.com`) || HostRegexp(`^api\\.`)) && PathPrefix(`/cart`) && !Method(`DELETE`) && " +
		"Header(`X-Env`, `prod`) && Query(`v`, `2`) && QueryRegexp(`id`, `^[0-9]+$`) && ClientIP(`10.0.0.0/8`) && !Path(`/cart/x`)")
	if err != nil {
		t.Fatal(err)
	}
	q := req("GET", "/cart/items?v=2&id=7", host("Shop.Example.com:8080"), hdr("X-Env", "prod"), remote("10.1.1.1:3333"))
	if !r.Match(q) {
		t.Fatal("rule does not match")
	}
	if n := testing.AllocsPerRun(100, func() { r.Match(q) }); n != 0 {
		t.Fatalf("Match allocates %v times per call", n)
	}
}

// A header or query parameter longer than MaxRegexpInput is never read
// by a regular expression: the rule that would read it does not match,
// not even through a negation, so its cost is bounded whatever the
// client sends (a 1 MiB header cost an unanchored HeaderRegexp a second).
func TestRegexpInputIsBounded(t *testing.T) {
	const max = rules.MaxRegexpInput
	fits, over := strings.Repeat("a", max), strings.Repeat("a", max+1)
	half := strings.Repeat("a", max/2+1)
	for _, c := range []struct {
		rule string
		req  *http.Request
		want bool
	}{
		{"HeaderRegexp(`X-A`, `a$`)", req("GET", "/", hdr("X-A", fits)), true},
		{"HeaderRegexp(`X-A`, `a$`)", req("GET", "/", hdr("X-A", over)), false},
		{"!HeaderRegexp(`X-A`, `b`)", req("GET", "/", hdr("X-A", fits)), true},
		{"!HeaderRegexp(`X-A`, `b`)", req("GET", "/", hdr("X-A", over)), false},
		// The values of one header count together.
		{"HeaderRegexp(`X-A`, `b`)", req("GET", "/", hdr("X-A", half), hdr("X-A", half), hdr("X-A", "b")), false},
		// A long header the rule's regular expressions do not read is no matter.
		{"HeaderRegexp(`X-A`, `b`)", req("GET", "/", hdr("X-A", "b"), hdr("X-B", over)), true},
		{"Path(`/`) || HeaderRegexp(`X-A`, `b`)", req("GET", "/", hdr("X-A", over)), false},
		{"QueryRegexp(`q`, `a$`)", req("GET", "/?q="+fits), true},
		{"QueryRegexp(`q`, `a$`)", req("GET", "/?q="+over), false},
		{"!QueryRegexp(`q`, `b`)", req("GET", "/?q="+half+"&q="+half), false},
		{"QueryRegexp(`q`, `a$`)", req("GET", "/?p="+over+"&q=a"), true},
	} {
		if got := mustParse(t, c.rule).Match(c.req); got != c.want {
			t.Errorf("%s on a request with %d header bytes, query %d bytes: %v, want %v",
				c.rule, headerBytes(c.req), len(c.req.URL.RawQuery), got, c.want)
		}
	}
}

func mustParse(t *testing.T, text string) *rules.Rule {
	t.Helper()
	r, err := rules.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func headerBytes(r *http.Request) int {
	n := 0
	for _, vs := range r.Header {
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// Hosts are the Host matchers' names outside negations, as Traefik's
// ParseDomains finds a router's domains.
func TestHosts(t *testing.T) {
	for rule, want := range map[string]string{
		"Host(`A.example`) || (Host(`b.example.`) && PathPrefix(`/x`))": "a.example,b.example",
		"Host(`a.example`) && !Host(`c.example`)":                       "a.example",
		"PathPrefix(`/`)": "",
		"HostRegexp(`^.+\\.example$`) || Host(`a.example`) || Host(`a.example`)": "a.example",
	} {
		r, err := rules.Parse(rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(r.Hosts(), ","); got != want {
			t.Errorf("%s: %q, want %q", rule, got, want)
		}
	}
}
