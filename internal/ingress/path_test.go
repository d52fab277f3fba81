package ingress_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// seenURI is what the path tests' backends answer: who they are, the
// Host header and the request target exactly as they received them.
type seenURI struct {
	Backend, Host, URI string
}

// pathEnv is a proxy with the routers on Host(`site.test`):
// PathPrefix(`/public`) to backend "public", PathPrefix(`/api/v1/`) to
// "api", and every other path of the host to "root". It returns the
// fast path's address and the net/http path's (the Proxy as a plain
// http.Handler).
func pathEnv(t testing.TB, popts ingress.Options) (fast, slow string) {
	t.Helper()
	var services []*api.Service
	var tasks []*api.Task
	for i, r := range []struct{ name, rule string }{
		{"public", "Host(`site.test`) && PathPrefix(`/public`)"},
		{"api", "Host(`site.test`) && PathPrefix(`/api/v1/`)"},
		{"root", "Host(`site.test`)"},
	} {
		name := r.name
		// No ServeMux: it would clean (redirect) paths itself.
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(seenURI{name, r.Host, r.RequestURI})
		}))
		t.Cleanup(b.Close)
		id := "s" + itoa(i)
		services = append(services, service(id, name, labels(
			"traefik.http.routers."+name+".rule="+r.rule,
			"traefik.http.services."+name+".loadbalancer.server.port=80")))
		tasks = append(tasks, task("t"+itoa(i), id, b.Listener.Addr().String()))
	}
	e := newEnv(t, ingress.TableOptions{}, popts)
	e.table.Reset(services, tasks)
	srv := httptest.NewServer(e.proxy)
	t.Cleanup(srv.Close)
	return e.addr, srv.Listener.Addr().String()
}

// sendRaw writes one raw request head to addr on a new connection and
// reads the answer: status, the backend's view when one answered, and
// the body.
func sendRaw(t testing.TB, addr, target, host string) (int, seenURI, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", target, err)
	}
	var seen seenURI
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(body, &seen); err != nil {
			t.Fatalf("GET %s: echo %q: %v", target, body, err)
		}
	}
	return resp.StatusCode, seen, string(body)
}

// TestRouteMatchingSeesTheForwardedPath is the attack and its
// relatives, on both request paths: a request is routed on the path the
// backend receives. Dot segments and repeated slashes are removed before
// matching, percent-encoded unreserved characters are decoded, an
// encoded slash or backslash is refused with 400, other escapes are sent
// on (upper-cased), the query is untouched, and an absolute-form target
// is routed on the host and path the backend gets.
func TestRouteMatchingSeesTheForwardedPath(t *testing.T) {
	fast, slow := pathEnv(t, ingress.Options{})
	for _, c := range []struct {
		target, host string
		status       int
		backend, uri string
		// backendHost is the Host the backend sees (default host).
		backendHost string
	}{
		{target: "/public/a.txt", status: 200, backend: "public", uri: "/public/a.txt"},
		// The three requests.
		{target: "/public/../secret.txt", status: 200, backend: "root", uri: "/secret.txt"},
		{target: "/public/%2e%2e/secret.txt", status: 200, backend: "root", uri: "/secret.txt"},
		{target: "/public/..%2fsecret.txt", status: 400},
		// Their relatives.
		{target: "/public/%2E%2e/secret.txt", status: 200, backend: "root", uri: "/secret.txt"},
		{target: "/public/.%2E/secret.txt", status: 200, backend: "root", uri: "/secret.txt"},
		{target: "/public/%2e/../../secret.txt", status: 200, backend: "root", uri: "/secret.txt"},
		{target: "/publicity/../secret.txt", status: 200, backend: "root", uri: "/secret.txt"},
		{target: "/public/..", status: 200, backend: "root", uri: "/"},
		{target: "/api/v1/../../public/x", status: 200, backend: "public", uri: "/public/x"},
		{target: "/api/v1/x/..", status: 200, backend: "api", uri: "/api/v1/"},
		{target: "/api/v1/%2e%2e/x", status: 200, backend: "root", uri: "/api/x"},
		{target: "/public/..%2Fsecret.txt", status: 400},
		{target: "/public%2f..%2f..%2fsecret.txt", status: 400},
		{target: "/public/..%5csecret.txt", status: 400},
		{target: "/public/..%5Csecret.txt", status: 400},
		{target: `/public/..\secret.txt`, status: 400}, // sent on as %5C
		{target: "/public/./a.txt", status: 200, backend: "public", uri: "/public/a.txt"},
		{target: "/public//a.txt", status: 200, backend: "public", uri: "/public/a.txt"},
		{target: "//public/a.txt", status: 200, backend: "public", uri: "/public/a.txt"},
		{target: "/./public/./", status: 200, backend: "public", uri: "/public/"},
		{target: "/public/x/../a.txt?q=/../x&r=%2f", status: 200, backend: "public", uri: "/public/a.txt?q=/../x&r=%2f"},
		{target: "/public/x/..", status: 200, backend: "public", uri: "/public/"},
		{target: "/%70ublic/%7Euser/%41", status: 200, backend: "public", uri: "/public/~user/A"},
		{target: "/public/a%20b%c3%a9", status: 200, backend: "public", uri: "/public/a%20b%C3%A9"},
		{target: "/public/a%00b%3b%3F%23", status: 200, backend: "public", uri: "/public/a%00b%3B%3F%23"},
		{target: "/public/%252e%252e/secret.txt", status: 200, backend: "public", uri: "/public/%252e%252e/secret.txt"},
		// Host: matched case-insensitively without its port, sent as is.
		{target: "/public/../secret.txt", host: "SITE.TEST:8080", status: 200, backend: "root", uri: "/secret.txt", backendHost: "SITE.TEST:8080"},
		{target: "/public/a", host: "other.test", status: 404},
		// Absolute form: the target's host is the request's host (RFC
		// 9112 section 3.2.2), for routing and for the backend.
		{target: "http://site.test/public/../secret.txt", host: "other.test", status: 200, backend: "root", uri: "/secret.txt", backendHost: "site.test"},
		{target: "http://site.test/public/a.txt", host: "other.test", status: 200, backend: "public", uri: "/public/a.txt", backendHost: "site.test"},
		{target: "http://other.test/public/a.txt", status: 404},
		{target: "http://site.test", status: 200, backend: "root", uri: "/"},
		// An opaque absolute target would be sent on as the request line
		// itself: refused.
		{target: "http:..%2fsecret.txt", status: 400},
		{target: "http:secret.txt", status: 400},
		// Asterisk-form is for OPTIONS only.
		{target: "*", status: 400},
	} {
		if c.host == "" {
			c.host = "site.test"
		}
		if c.backendHost == "" {
			c.backendHost = c.host
		}
		for _, p := range []struct{ name, addr string }{{"fast path", fast}, {"net/http", slow}} {
			status, seen, body := sendRaw(t, p.addr, c.target, c.host)
			switch {
			case status != c.status:
				t.Errorf("%s: GET %s (Host %s): %d %q, want %d", p.name, c.target, c.host, status, body, c.status)
			case status == 200 && (seen.Backend != c.backend || seen.URI != c.uri || seen.Host != c.backendHost):
				t.Errorf("%s: GET %s (Host %s): backend %s got %s (Host %s), want %s got %s (Host %s)",
					p.name, c.target, c.host, seen.Backend, seen.URI, seen.Host, c.backend, c.uri, c.backendHost)
			case status == 400 && !strings.Contains(body, "request path"):
				t.Errorf("%s: GET %s: 400 %q does not name the request path", p.name, c.target, body)
			}
		}
	}
}

// TestEncodedSlashAllowedByOption: with AllowEncodedSlash and
// AllowEncodedBackslash an encoded slash or backslash is sent on, still
// encoded, and does not separate segments for routing or cleaning.
func TestEncodedSlashAllowedByOption(t *testing.T) {
	fast, slow := pathEnv(t, ingress.Options{AllowEncodedSlash: true, AllowEncodedBackslash: true})
	for _, c := range []struct{ target, backend, uri string }{
		{"/public/..%2fsecret.txt", "public", "/public/..%2Fsecret.txt"},
		{"/public/a%2Fb/../c", "public", "/public/c"},
		// One segment for the proxy; a backend that decodes %2F first
		// would see /public/../x: the risk the option takes.
		{"/public%2F../x", "public", "/public%2F../x"},
		{"/public/..%5csecret.txt", "public", "/public/..%5Csecret.txt"},
		{`/public/..\x`, "public", "/public/..%5Cx"},
	} {
		for _, p := range []struct{ name, addr string }{{"fast path", fast}, {"net/http", slow}} {
			status, seen, body := sendRaw(t, p.addr, c.target, "site.test")
			if status != 200 || seen.Backend != c.backend || seen.URI != c.uri {
				t.Errorf("%s: GET %s: %d %q, want %s to get %s", p.name, c.target, status, body, c.backend, c.uri)
			}
		}
	}
	// Only what is allowed: a slash-only proxy still refuses %5C.
	fast, _ = pathEnv(t, ingress.Options{AllowEncodedSlash: true})
	if status, _, _ := sendRaw(t, fast, "/public/%5c", "site.test"); status != 400 {
		t.Errorf("%%5C with only AllowEncodedSlash: %d, want 400", status)
	}
}

// FuzzPathPrefixConfinement sends random request targets to both request
// paths and checks that whatever a PathPrefix(P) router's backend
// receives is a clean path inside P, as the backend decodes it, and that
// every other answer is a refusal (400) or no route (404).
func FuzzPathPrefixConfinement(f *testing.F) {
	for _, s := range []string{
		"/public/a", "/public/../secret.txt", "/public/%2e%2e/secret.txt", "/public/..%2fsecret.txt",
		"/public/%2E./x", "/public/.%2e%2F", "/api/v1/%2e%2e%2e/x", "/api/v1/./../v1/x", "//public//a//",
		"/public%2e%2e/x", "/public/..%5c..%5cx", "/public/%252e%252e/x", "/%70ublic/../x", "/public?/../x",
		"http://site.test/public/../x", "http:..%2fx", "/public/a#/../../x", "/public/%u002e", "/public/\xc0\xae\xc0\xae/x",
	} {
		f.Add(s)
	}
	fast, slow := pathEnv(f, ingress.Options{})
	prefixes := map[string]string{"public": "/public", "api": "/api/v1/"}
	f.Fuzz(func(t *testing.T, target string) {
		if target == "" || len(target) > 512 {
			return
		}
		for i := 0; i < len(target); i++ {
			if c := target[i]; c <= ' ' || c == 0x7f {
				return // not a request-target a request line can carry
			}
		}
		for _, addr := range []string{fast, slow} {
			status, seen, body := sendRaw(t, addr, target, "site.test")
			switch status {
			case 400, 404:
				continue
			case 200:
			default:
				t.Fatalf("GET %s: %d %q", target, status, body)
			}
			u, err := url.ParseRequestURI(seen.URI)
			if err != nil {
				t.Fatalf("GET %s: backend %s got %q: %v", target, seen.Backend, seen.URI, err)
			}
			if !cleanPath(u.Path) || !cleanPath(u.EscapedPath()) {
				t.Fatalf("GET %s: backend %s got %q: not a clean path", target, seen.Backend, seen.URI)
			}
			if p, ok := prefixes[seen.Backend]; ok && (!strings.HasPrefix(u.Path, p) || !strings.HasPrefix(u.EscapedPath(), p)) {
				t.Fatalf("GET %s: backend %s got %q, outside %s", target, seen.Backend, seen.URI, p)
			}
		}
	})
}

// cleanPath reports whether p is absolute with no empty, "." or ".."
// segment (a trailing slash aside).
func cleanPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." || (s == "" && i != len(segs)-1) {
			return false
		}
	}
	return true
}
