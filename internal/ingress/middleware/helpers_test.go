package middleware

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
)

// opts turns "key=value" pairs into options.
func opts(kv ...string) []Option {
	out := make([]Option, 0, len(kv))
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		out = append(out, Option{Key: k, Value: v})
	}
	return out
}

// seen is what the next handler got.
type seen struct {
	called  bool
	path    string
	rawPath string
	uri     string
	host    string
	header  http.Header
}

// serve runs one request through the middleware of typ; the backend
// answers 200 "ok" (with backendHeaders) and records what it saw.
func serve(t *testing.T, typ string, o []Option, r *http.Request, backendHeaders ...string) (*httptest.ResponseRecorder, *seen) {
	t.Helper()
	m, err := New(typ, o)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	s := &seen{}
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*s = seen{called: true, path: r.URL.Path, rawPath: r.URL.RawPath, uri: r.RequestURI, host: r.Host, header: r.Header.Clone()}
		for _, kv := range backendHeaders {
			k, v, _ := strings.Cut(kv, ": ")
			w.Header().Add(k, v)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec, s
}

func req(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ": ")
		r.Header.Add(k, v)
	}
	return r
}

// wantErr checks that New refuses o, naming every want in the message.
func wantErr(t *testing.T, typ string, o []Option, want ...string) {
	t.Helper()
	_, err := New(typ, o)
	if err == nil {
		t.Fatalf("New(%s, %v) = nil error, want one naming %q", typ, o, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("New(%s, %v) = %q, want it to name %q", typ, o, err, w)
		}
	}
}

func TestNewRefusesUnknownAndUnsupported(t *testing.T) {
	wantErr(t, "plugin", opts("blockpath.regex=^/admin"), "plugin is not supported", "plugins cannot be loaded")
	wantErr(t, "ipwhitelist", opts("sourceRange=10.0.0.0/8"), "use ipallowlist")
	wantErr(t, "nosuch", nil, "unknown middleware type", "basicauth")
	wantErr(t, "stripprefix", opts("prefixes=/a", "bogus=1"), "option bogus: unknown option")
	types := Types()
	if !sort.StringsAreSorted(types) || len(types) != len(builders)+3 {
		t.Errorf("Types() = %v", types)
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mk := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	Chain(mk("a"), mk("b"), mk("c"))(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), req("GET", "/"))
	if strings.Join(order, ",") != "a,b,c" {
		t.Errorf("order = %v", order)
	}
}
