package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Limits on what the UI keeps for its users: a client may ask for login
// tokens through the API socket, and any peer may present cookies.
const (
	// LoginTokenTTL is how long a login URL may wait before it is used.
	LoginTokenTTL = 15 * time.Minute
	// SessionTTL is how long a session lasts after its login.
	SessionTTL = 12 * time.Hour
	// maxLoginTokens and maxSessions bound the tables; the oldest entry
	// goes to make room.
	maxLoginTokens = 32
	maxSessions    = 64
	cookieName     = "shoal_session"
)

// session is one logged-in browser.
type session struct {
	csrf    string
	expires time.Time
}

// auth holds the one-time login tokens and the sessions they became,
// each by the SHA-256 of its secret so that a table dump reveals none.
type auth struct {
	mu       sync.Mutex
	now      func() time.Time
	tokens   map[[32]byte]time.Time
	sessions map[[32]byte]*session
}

func newAuth() *auth {
	return &auth{now: time.Now, tokens: map[[32]byte]time.Time{}, sessions: map[[32]byte]*session{}}
}

// secret is 256 random bits, URL-safe.
func secret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand's contract since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func key(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// newLoginToken makes a one-time token that login exchanges for a session.
func (a *auth) newLoginToken() string {
	t := secret()
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.expireLocked(now)
	if len(a.tokens) >= maxLoginTokens {
		evictOldest(a.tokens, func(e time.Time) time.Time { return e })
	}
	a.tokens[key(t)] = now.Add(LoginTokenTTL)
	return t
}

// login spends token and returns a new session's ID and CSRF token.
func (a *auth) login(token string) (id, csrf string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.expireLocked(now)
	k := key(token)
	if _, found := a.tokens[k]; !found {
		return "", "", false
	}
	delete(a.tokens, k) // one use only
	if len(a.sessions) >= maxSessions {
		evictOldest(a.sessions, func(s *session) time.Time { return s.expires })
	}
	id, csrf = secret(), secret()
	a.sessions[key(id)] = &session{csrf: csrf, expires: now.Add(SessionTTL)}
	return id, csrf, true
}

// session returns the live session r's cookie names, or nil.
func (a *auth) session(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[key(c.Value)]
	if s == nil || !a.now().Before(s.expires) {
		return nil
	}
	return s
}

func (a *auth) expireLocked(now time.Time) {
	for k, e := range a.tokens {
		if !now.Before(e) {
			delete(a.tokens, k)
		}
	}
	for k, s := range a.sessions {
		if !now.Before(s.expires) {
			delete(a.sessions, k)
		}
	}
}

func evictOldest[V any](m map[[32]byte]V, when func(V) time.Time) {
	var oldest [32]byte
	var at time.Time
	first := true
	for k, v := range m {
		if w := when(v); first || w.Before(at) {
			oldest, at, first = k, w, false
		}
	}
	delete(m, oldest)
}

// sameOrigin reports whether a state-changing request comes from a page
// of this UI: its Origin names the host it was sent to. Browsers send
// Origin on every cross-origin request and on every POST, so a missing
// one is refused too.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	return u.Host == r.Host
}

// validCSRF compares the request's X-CSRF-Token with the session's.
func validCSRF(r *http.Request, s *session) bool {
	got := r.Header.Get("X-CSRF-Token")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// hostAllowed reports whether r's Host is one the listener answers to:
// any when hosts is empty, else one of them. A listener on a loopback
// address names its own, so that a page of another site whose name
// resolves to 127.0.0.1 (DNS rebinding) is not served.
func hostAllowed(r *http.Request, hosts []string) bool {
	if len(hosts) == 0 {
		return true
	}
	for _, h := range hosts {
		if r.Host == h {
			return true
		}
	}
	return false
}

// LoopbackHosts are the Host headers a browser sends to a listener on
// addr when addr is a loopback address, nil otherwise (any host).
func LoopbackHosts(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil
	}
	return []string{net.JoinHostPort(host, port), net.JoinHostPort("localhost", port)}
}
