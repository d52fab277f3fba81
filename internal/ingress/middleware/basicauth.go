package middleware

import (
	"fmt"
	"net/http"
	"strings"
)

// basicauth: users (htpasswd lines "user:hash"), realm (default
// "traefik"), headerField (a request header that gets the user's name),
// removeHeader (drop Authorization before the backend).
type basicAuth struct {
	users       map[string]string
	dummy       string // a user's hash, checked for unknown names
	realm       string
	headerField string
	remove      bool
	next        http.Handler
}

func newBasicAuth(o *options) Middleware {
	a := &basicAuth{users: map[string]string{}}
	for _, line := range o.users() {
		user, hash, ok := strings.Cut(line.text, ":")
		switch {
		case !ok || user == "":
			o.fail(line.key, "an entry is not USER:HASH (it is not shown: it may hold a password)")
			continue
		case a.users[user] != "":
			o.fail(line.key, "user %q is listed twice", user)
			continue
		}
		if err := checkHashFormat(hash); err != nil {
			o.fail(line.key, "user %q: %v", user, err)
			continue
		}
		a.users[user] = hash
		if a.dummy == "" {
			// Checked when the name is unknown, so that a wrong name
			// costs what a wrong password does.
			a.dummy = hash
		}
	}
	a.realm = o.str("realm", "traefik")
	if strings.ContainsAny(a.realm, "\"\\\r\n") {
		o.fail("realm", "may not hold quotes, backslashes or line breaks")
	}
	a.headerField = o.headerName("headerField")
	a.remove = o.boolean("removeHeader")
	return func(next http.Handler) http.Handler {
		b := *a
		b.next = next
		return &b
	}
}

func (a *basicAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, password, ok := r.BasicAuth()
	// Two Authorization headers: this checks the first, a backend might
	// read another.
	ok = ok && len(r.Header.Values("Authorization")) == 1
	if ok {
		hash, known := a.users[user]
		if !known {
			checkHash(a.dummy, password)
		}
		ok = known && checkHash(hash, password)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", a.realm))
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
		return
	}
	passAuthenticated(w, r, user, a.headerField, a.remove, a.next)
}

// passAuthenticated sends on a request whose user is authenticated:
// named in headerField when set (replacing what the client sent there),
// without its Authorization header with removeHeader.
func passAuthenticated(w http.ResponseWriter, r *http.Request, user, headerField string, remove bool, next http.Handler) {
	if headerField != "" {
		r.Header[headerField] = []string{user}
	}
	if remove {
		r.Header.Del("Authorization")
	}
	next.ServeHTTP(w, r)
}
