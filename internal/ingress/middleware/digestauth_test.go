package middleware

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The user of Traefik's digestauth documentation: test:traefik:test.
const digestUser = "test:traefik:a2688e031edb4be6a3797f3882655c05"

// digestClient answers a challenge as a browser does (RFC 7616, MD5,
// qop=auth).
func digestAuthorization(challenge, user, password, method, uri, nc string) string {
	p := parseAuthParams(strings.TrimPrefix(challenge, "Digest "))
	ha1 := md5hex(user + ":" + p["realm"] + ":" + password)
	ha2 := md5hex(method + ":" + uri)
	resp := md5hex(ha1 + ":" + p["nonce"] + ":" + nc + ":c0ffee:auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", qop=auth, nc=%s, cnonce="c0ffee", response="%s", opaque="%s", algorithm=MD5`,
		user, p["realm"], p["nonce"], uri, nc, resp, p["opaque"])
}

func TestDigestAuth(t *testing.T) {
	m, err := New("digestauth", opts("users="+digestUser, "headerField=X-User", "removeHeader=true"))
	if err != nil {
		t.Fatal(err)
	}
	var saw http.Header
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { saw = r.Header.Clone() }))
	do := func(method, uri, auth string) *httptest.ResponseRecorder {
		r := req(method, uri)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		saw = nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	rec := do("GET", "/a?b=1", "")
	challenge := rec.Header().Get("WWW-Authenticate")
	if rec.Code != 401 || !strings.HasPrefix(challenge, `Digest realm="traefik", nonce="`) || !strings.Contains(challenge, `qop="auth"`) {
		t.Fatalf("no credentials: %d %q", rec.Code, challenge)
	}
	good := digestAuthorization(challenge, "test", "test", "GET", "/a?b=1", "00000001")
	if rec := do("GET", "/a?b=1", good); rec.Code != 200 || saw.Get("X-User") != "test" || saw.Get("Authorization") != "" {
		t.Fatalf("right password: %d, backend saw %v", rec.Code, saw)
	}
	if rec := do("GET", "/a?b=1", good); rec.Code != 401 || saw != nil {
		t.Errorf("replayed header: %d, want 401", rec.Code)
	}
	if rec := do("GET", "/a?b=1", digestAuthorization(challenge, "test", "test", "GET", "/a?b=1", "00000002")); rec.Code != 200 {
		t.Errorf("next nc: %d, want 200", rec.Code)
	}
	for name, auth := range map[string]string{
		"wrong password": digestAuthorization(challenge, "test", "nope", "GET", "/a?b=1", "00000003"),
		"unknown user":   digestAuthorization(challenge, "eve", "test", "GET", "/a?b=1", "00000003"),
		"other uri":      digestAuthorization(challenge, "test", "test", "GET", "/other", "00000003"),
		"forged nonce":   strings.Replace(digestAuthorization(challenge, "test", "test", "GET", "/a?b=1", "00000003"), `nonce="`, `nonce="00`, 1),
		"basic":          "Basic dGVzdDp0ZXN0",
	} {
		if rec := do("GET", "/a?b=1", auth); rec.Code != 401 || saw != nil {
			t.Errorf("%s: %d, want 401", name, rec.Code)
		}
	}

	// An expired nonce with the right password gets a fresh one, stale.
	da := m(http.NotFoundHandler()).(*digestAuth)
	old := da.nonce(time.Now().Add(-2 * nonceLifetime))
	oldChallenge := fmt.Sprintf(`Digest realm="traefik", nonce=%q, opaque=%q`, old, da.opaque)
	r := req("GET", "/")
	r.Header.Set("Authorization", digestAuthorization(oldChallenge, "test", "test", "GET", "/", "00000001"))
	rec = httptest.NewRecorder()
	da.ServeHTTP(rec, r)
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "stale=true") {
		t.Errorf("expired nonce: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}

	wantErr(t, "digestauth", nil, "users", "required")
	wantErr(t, "digestauth", opts("users=test:other:a2688e031edb4be6a3797f3882655c05"), `realm "other"`)
	wantErr(t, "digestauth", opts("users=test:traefik:test"), "32 hex digits")
	wantErr(t, "digestauth", opts("users=a:b"), "htdigest")
}

func TestParseAuthParams(t *testing.T) {
	got := parseAuthParams(`username="a, b", realm=r, uri="/x?a=1,2", esc="q\"x", nc=00000001`)
	want := map[string]string{"username": "a, b", "realm": "r", "uri": "/x?a=1,2", "esc": `q"x`, "nc": "00000001"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// A captured Authorization header stays refused after the nonce
// counters overflow: they used to be forgotten, so that one user filling
// them let anyone replay another's header.
func TestDigestAuthNoReplayAfterCounterOverflow(t *testing.T) {
	m, err := New("digestauth", opts("users="+digestUser))
	if err != nil {
		t.Fatal(err)
	}
	da := m(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).(*digestAuth)
	do := func(auth string, more ...string) *httptest.ResponseRecorder {
		r := req("GET", "/")
		r.Header.Set("Authorization", auth)
		for _, a := range more {
			r.Header.Add("Authorization", a)
		}
		rec := httptest.NewRecorder()
		da.ServeHTTP(rec, r)
		return rec
	}
	challenge := func() string {
		rec := httptest.NewRecorder()
		da.ServeHTTP(rec, req("GET", "/"))
		return rec.Header().Get("WWW-Authenticate")
	}
	captured := digestAuthorization(challenge(), "test", "test", "GET", "/", "00000001")
	if rec := do(captured); rec.Code != 200 {
		t.Fatalf("first use: %d", rec.Code)
	}
	da.mu.Lock()
	for i := len(da.seen); i < maxNonces; i++ {
		da.seen[fmt.Sprint(i)] = 1
	}
	da.mu.Unlock()
	// The overflow: this login gets a stale answer and a fresh nonce.
	rec := do(digestAuthorization(challenge(), "test", "test", "GET", "/", "00000001"))
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "stale=true") {
		t.Errorf("login at the overflow: %d %q, want 401 stale", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if rec := do(captured); rec.Code != 401 {
		t.Errorf("replayed header after the overflow: %d, want 401", rec.Code)
	}
	if rec := do(digestAuthorization(rec.Header().Get("WWW-Authenticate"), "test", "test", "GET", "/", "00000001")); rec.Code != 200 {
		t.Errorf("login with the fresh nonce: %d, want 200", rec.Code)
	}
	// Two Authorization headers: refused, as basicauth.
	good := digestAuthorization(challenge(), "test", "test", "GET", "/", "00000001")
	if rec := do(good, "Basic YWRtaW46eA=="); rec.Code != 401 {
		t.Errorf("two Authorization headers: %d, want 401", rec.Code)
	}
}

// An unknown user is checked against a dummy HA1, as long as a known
// one, and that dummy never logs anyone in.
func TestDigestAuthUnknownUserDummyNeverMatches(t *testing.T) {
	m, err := New("digestauth", opts("users="+digestUser))
	if err != nil {
		t.Fatal(err)
	}
	da := m(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).(*digestAuth)
	rec := httptest.NewRecorder()
	da.ServeHTTP(rec, req("GET", "/"))
	p := parseAuthParams(strings.TrimPrefix(rec.Header().Get("WWW-Authenticate"), "Digest "))
	ha1 := strings.Repeat("0", 32)
	resp := md5hex(ha1 + ":" + p["nonce"] + ":00000001:c0ffee:auth:" + md5hex("GET:/"))
	r := req("GET", "/")
	r.Header.Set("Authorization", fmt.Sprintf(`Digest username="eve", realm="traefik", nonce=%q, uri="/", qop=auth, nc=00000001, cnonce="c0ffee", response=%q, opaque=%q`, p["nonce"], resp, p["opaque"]))
	rec = httptest.NewRecorder()
	da.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("unknown user with the dummy HA1: %d, want 401", rec.Code)
	}
}
