package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loggedIn logs a client into s and returns its session cookie and the
// page's CSRF token.
func loggedIn(t *testing.T, s *Server) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "http://ui.test"+LoginPath(s.NewLoginToken()), nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var c *http.Cookie
	for _, k := range rec.Result().Cookies() {
		if k.Name == cookieName {
			c = k
		}
	}
	if c == nil {
		t.Fatal("login set no session cookie")
	}
	req := httptest.NewRequest("GET", "http://ui.test/ui/", nil)
	req.AddCookie(c)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	body := rec.Body.String()
	i := strings.Index(body, `name="csrf-token" content="`)
	if rec.Code != http.StatusOK || i < 0 {
		t.Fatalf("page: %d %s", rec.Code, body)
	}
	rest := body[i+len(`name="csrf-token" content="`):]
	return c, rest[:strings.IndexByte(rest, '"')]
}

func TestLoginTokenWorksOnceAndMakesAStrictHttpOnlyCookie(t *testing.T) {
	s := New(Config{})
	tok := s.NewLoginToken()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "http://ui.test"+LoginPath(tok), nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/" {
		t.Fatalf("login: %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].MaxAge <= 0 || len(cs[0].Value) < 43 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, expiring, 256 random bits", cs)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "http://ui.test"+LoginPath(tok), nil))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("second use of a login token: %d, want 403", rec.Code)
	}
}

func TestLoginTokenAndSessionExpire(t *testing.T) {
	s := New(Config{})
	now := time.Now()
	s.auth.now = func() time.Time { return now }
	tok := s.NewLoginToken()
	now = now.Add(LoginTokenTTL)
	if _, _, ok := s.auth.login(tok); ok {
		t.Fatal("an expired login token logged in")
	}
	c, _ := loggedIn(t, s)
	now = now.Add(SessionTTL)
	req := httptest.NewRequest("GET", "http://ui.test/ui/api/state", nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("expired session: %d, want 401", rec.Code)
	}
}

func TestEverythingButLoginNeedsASession(t *testing.T) {
	s := New(Config{})
	for _, p := range []string{"/ui/", "/ui/static/app.js", "/ui/api/state", "/ui/api/events"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://ui.test"+p, nil)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: "forged"})
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d, want 401", p, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "http://ui.test/ui/api/services/x/remove", strings.NewReader("{}")))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d, want 401", rec.Code)
	}
}

func TestActionsNeedCSRFTokenSameOriginAndJSON(t *testing.T) {
	s := New(Config{})
	c, csrf := loggedIn(t, s)
	cases := []struct {
		name, origin, site, token, ctype string
	}{
		{"no CSRF token", "http://ui.test", "same-origin", "", "application/json"},
		{"wrong CSRF token", "http://ui.test", "same-origin", csrf + "x", "application/json"},
		{"no Origin", "", "", csrf, "application/json"},
		{"other Origin", "http://evil.test", "cross-site", csrf, "application/json"},
		{"cross-site fetch", "http://ui.test", "cross-site", csrf, "application/json"},
		{"form post", "http://ui.test", "same-origin", csrf, "application/x-www-form-urlencoded"},
	}
	for _, tc := range cases {
		req := httptest.NewRequest("POST", "http://ui.test/ui/api/services/web/remove", strings.NewReader("{}"))
		req.AddCookie(c)
		for k, v := range map[string]string{"Origin": tc.origin, "Sec-Fetch-Site": tc.site, "X-CSRF-Token": tc.token, "Content-Type": tc.ctype} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, rec.Code)
		}
	}
	// The same request with all three passes the checks (and then
	// fails on the missing API client with an unknown action).
	req := httptest.NewRequest("POST", "http://ui.test/ui/api/services/web/fly", strings.NewReader("{}"))
	req.AddCookie(c)
	req.Header.Set("Origin", "http://ui.test")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Fatalf("a same-origin request with its CSRF token: %d %s, want 404 for an unknown action", rec.Code, rec.Body)
	}
}

func TestLoopbackListenerRefusesOtherHosts(t *testing.T) {
	hosts := LoopbackHosts("127.0.0.1:8090")
	s := New(Config{Hosts: hosts})
	tok := s.NewLoginToken()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "http://rebind.evil.test:8090"+LoginPath(tok), nil))
	if rec.Code != http.StatusMisdirectedRequest {
		t.Fatalf("Host rebind.evil.test: %d, want 421", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost:8090"+LoginPath(tok), nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("Host localhost:8090: %d, want 303", rec.Code)
	}
	if LoopbackHosts("0.0.0.0:8090") != nil || LoopbackHosts("10.1.2.3:8090") != nil {
		t.Fatal("a listener on other addresses names hosts")
	}
}

func TestPageSecurityHeaders(t *testing.T) {
	s := New(Config{})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "http://ui.test/ui/", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("headers %v", rec.Header())
	}
}

func TestTablesAreBounded(t *testing.T) {
	s := New(Config{})
	first := s.NewLoginToken()
	for range maxLoginTokens {
		s.NewLoginToken()
	}
	if n := len(s.auth.tokens); n != maxLoginTokens {
		t.Fatalf("%d login tokens kept, want at most %d", n, maxLoginTokens)
	}
	if _, _, ok := s.auth.login(first); ok {
		t.Fatal("the oldest token survived a full table")
	}
	for range maxSessions + 5 {
		if _, _, ok := s.auth.login(s.NewLoginToken()); !ok {
			t.Fatal("login failed")
		}
	}
	if n := len(s.auth.sessions); n != maxSessions {
		t.Fatalf("%d sessions kept, want %d", n, maxSessions)
	}
}
