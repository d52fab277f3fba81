package middleware

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// authServer stands for traefik-forward-auth or Authelia: X-Token good
// passes, with the user in X-Auth-User; /login-flow redirects.
type authServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen http.Header
	meth string
}

func startAuth(t *testing.T) *authServer {
	a := &authServer{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen, a.meth = r.Header.Clone(), r.Method
		a.mu.Unlock()
		switch {
		case r.Header.Get("X-Token") == "good":
			w.Header().Set("X-Auth-User", "bob")
			w.Header().Set("X-Auth-Extra-Role", "admin")
			http.SetCookie(w, &http.Cookie{Name: "sess", Value: "1"})
			http.SetCookie(w, &http.Cookie{Name: "other", Value: "2"})
			w.WriteHeader(http.StatusOK)
		case r.Header.Get("X-Token") == "login":
			http.Redirect(w, r, "/login?rd=x", http.StatusFound)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="auth"`)
			http.Error(w, "nope", http.StatusUnauthorized)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) saw() (http.Header, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen, a.meth
}

func TestForwardAuth(t *testing.T) {
	a := startAuth(t)
	base := []string{"address=" + a.URL + "/verify", "authResponseHeaders=X-Auth-User", "authResponseHeadersRegex=^X-Auth-Extra-", "addAuthCookiesToResponse=sess"}

	// Refused: the auth server's answer goes to the client, the backend
	// is not reached.
	r := req("POST", "http://app.example/path?q=1", "X-Token: bad", "Cookie: c=1")
	r.RemoteAddr = "10.1.2.3:5555"
	rec, s := serve(t, "forwardauth", opts(base...), r)
	if rec.Code != 401 || s.called || rec.Header().Get("WWW-Authenticate") != `Bearer realm="auth"` || !strings.Contains(rec.Body.String(), "nope") {
		t.Fatalf("refused: %d called %v %v %q", rec.Code, s.called, rec.Header(), rec.Body)
	}
	seen, method := a.saw()
	want := map[string]string{
		"X-Forwarded-Method": "POST", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "app.example",
		"X-Forwarded-Uri": "/path?q=1", "X-Forwarded-For": "10.1.2.3", "Cookie": "c=1",
	}
	for k, v := range want {
		if seen.Get(k) != v {
			t.Errorf("auth server saw %s = %q, want %q", k, seen.Get(k), v)
		}
	}
	if method != "GET" {
		t.Errorf("auth request method %s, want GET", method)
	}

	// Accepted: the response headers named reach the backend, replacing
	// the client's own, and the named cookie reaches the client.
	r = req("GET", "http://app.example/", "X-Token: good", "X-Auth-User: mallory", "X-Auth-Extra-Role: root")
	rec, s = serve(t, "forwardauth", opts(base...), r)
	if rec.Code != 200 || !s.called {
		t.Fatalf("accepted: %d called %v", rec.Code, s.called)
	}
	if got := s.header.Values("X-Auth-User"); len(got) != 1 || got[0] != "bob" {
		t.Errorf("backend X-Auth-User = %q, want [bob]", got)
	}
	if got := s.header.Values("X-Auth-Extra-Role"); len(got) != 1 || got[0] != "admin" {
		t.Errorf("backend X-Auth-Extra-Role = %q, want [admin]", got)
	}
	if got := rec.Header().Values("Set-Cookie"); len(got) != 1 || got[0] != "sess=1" {
		t.Errorf("Set-Cookie = %q, want [sess=1]", got)
	}

	// A redirect to a login page: Location made absolute on the auth
	// server, unless preserveLocationHeader.
	rec, _ = serve(t, "forwardauth", opts(base...), req("GET", "/", "X-Token: login"))
	if rec.Code != 302 || rec.Header().Get("Location") != a.URL+"/login?rd=x" {
		t.Errorf("redirect: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec, _ = serve(t, "forwardauth", opts(append(base, "preserveLocationHeader=true")...), req("GET", "/", "X-Token: login"))
	if rec.Header().Get("Location") != "/login?rd=x" {
		t.Errorf("preserved Location = %q", rec.Header().Get("Location"))
	}

	// authRequestHeaders limits what the auth server sees;
	// preserveRequestMethod sends the client's method.
	_, _ = serve(t, "forwardauth", opts("address="+a.URL, "authRequestHeaders=X-Token", "preserveRequestMethod=true"), req("PUT", "/", "X-Token: good", "Cookie: c=1"))
	seen, method = a.saw()
	if seen.Get("Cookie") != "" || seen.Get("X-Token") != "good" || method != "PUT" {
		t.Errorf("auth server saw %v by %s", seen, method)
	}

	// trustForwardHeader keeps the client's X-Forwarded-*.
	_, _ = serve(t, "forwardauth", opts("address="+a.URL, "trustForwardHeader=true"), req("GET", "/", "X-Forwarded-Proto: https", "X-Forwarded-Uri: /orig", "X-Forwarded-For: 9.9.9.9"))
	if seen, _ = a.saw(); seen.Get("X-Forwarded-Proto") != "https" || seen.Get("X-Forwarded-Uri") != "/orig" || seen.Get("X-Forwarded-For") != "9.9.9.9, 192.0.2.1" {
		t.Errorf("trusted: %v", seen)
	}
	_, _ = serve(t, "forwardauth", opts("address="+a.URL), req("GET", "/x", "X-Forwarded-Proto: https", "X-Forwarded-Uri: /orig", "X-Forwarded-For: 9.9.9.9"))
	if seen, _ = a.saw(); seen.Get("X-Forwarded-Proto") != "http" || seen.Get("X-Forwarded-Uri") != "/x" || seen.Get("X-Forwarded-For") != "192.0.2.1" {
		t.Errorf("untrusted: %v", seen)
	}

	// An auth server that cannot be reached lets nothing through.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	rec, s = serve(t, "forwardauth", opts("address="+down.URL), req("GET", "/"))
	if rec.Code != 500 || s.called {
		t.Errorf("auth server down: %d called %v", rec.Code, s.called)
	}

	wantErr(t, "forwardauth", nil, "address", "required")
	wantErr(t, "forwardauth", opts("address=auth:4181"), "not an http or https URL")
	wantErr(t, "forwardauth", opts("address=http://auth", "tls.ca=/ca.pem"), "tls.ca", "not supported yet")
	wantErr(t, "forwardauth", opts("address=http://auth", "forwardBody=true"), "forwardBody")
}

// The auth server's connection is let go once it let the request
// through, not held while the backend serves (a stream, a WebSocket,
// for hours): an auth server answering 200 with a body must not have
// one connection per request in flight.
func TestForwardAuthReleasesItsConnectionBeforeTheBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		// An answer with a body, the connection left open: it ends when
		// the ingress closes it.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	}()
	m, err := New("forwardauth", opts("address=http://"+ln.Addr().String()+"/verify"))
	if err != nil {
		t.Fatal(err)
	}
	released := false
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-closed:
			released = true
		case <-time.After(5 * time.Second):
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), req("GET", "/"))
	if !released {
		t.Error("the auth server's connection stayed open while the backend served")
	}
	<-closed
}
