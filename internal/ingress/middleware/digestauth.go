package middleware

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// digestauth: HTTP digest authentication (RFC 7616 with MD5 and
// qop=auth, which browsers speak). users are htdigest lines
// "user:realm:md5(user:realm:password)", realm (default "traefik") must
// be theirs, removeHeader and headerField as basicauth's.
//
// Nonces are stateless (a timestamp and its HMAC under a key of this
// instance) and live nonceLifetime; a nonce's counter (nc) must grow, so
// a captured Authorization header cannot be replayed. When the counters
// kept reach maxNonces the key changes with them: the nonces they
// counted become stale (the client asks for a new one), never fresh.
type digestAuth struct {
	users       map[string]string // user → HA1
	realm       string
	headerField string
	remove      bool
	opaque      string
	next        http.Handler

	mu     sync.Mutex
	key    [32]byte          // signs the nonces given now
	oldKey [32]byte          // signed those given before the last reset: stale
	seen   map[string]uint64 // nonce → the highest nc used
}

const (
	nonceLifetime = 5 * time.Minute
	// maxNonces bounds the counters kept; past it they start over under
	// a new key (a client then gets a stale nonce and retries).
	maxNonces = 65536
)

func newDigestAuth(o *options) Middleware {
	realm := o.str("realm", "traefik")
	if strings.ContainsAny(realm, "\"\\\r\n") {
		o.fail("realm", "may not hold quotes, backslashes or line breaks")
	}
	users := map[string]string{}
	for _, line := range o.users() {
		parts := strings.Split(line.text, ":")
		switch {
		case len(parts) != 3 || parts[0] == "":
			o.fail(line.key, "an entry is not USER:REALM:HASH (htdigest; it is not shown: it may hold a password)")
		case len(parts[2]) != 32 || strings.Trim(strings.ToLower(parts[2]), "0123456789abcdef") != "":
			o.fail(line.key, "user %q: the hash is not 32 hex digits (htdigest's md5)", parts[0])
		case parts[1] != realm:
			o.fail(line.key, "user %q is in realm %q, not the middleware's %q", parts[0], parts[1], realm)
		case users[parts[0]] != "":
			o.fail(line.key, "user %q is listed twice", parts[0])
		default:
			users[parts[0]] = strings.ToLower(parts[2])
		}
	}
	headerField := o.headerName("headerField")
	remove := o.boolean("removeHeader")
	return func(next http.Handler) http.Handler {
		a := &digestAuth{users: users, realm: realm, headerField: headerField, remove: remove, next: next, seen: map[string]uint64{}}
		_, _ = rand.Read(a.key[:])
		_, _ = rand.Read(a.oldKey[:])
		var op [16]byte
		_, _ = rand.Read(op[:])
		a.opaque = hex.EncodeToString(op[:])
		return a
	}
}

func (a *digestAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, stale, ok := a.check(r, time.Now())
	if !ok {
		a.challenge(w, stale)
		return
	}
	passAuthenticated(w, r, user, a.headerField, a.remove, a.next)
}

func (a *digestAuth) challenge(w http.ResponseWriter, stale bool) {
	v := fmt.Sprintf(`Digest realm=%q, nonce=%q, opaque=%q, algorithm=MD5, qop="auth"`, a.realm, a.nonce(time.Now()), a.opaque)
	if stale {
		v += ", stale=true"
	}
	w.Header().Set("WWW-Authenticate", v)
	http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
}

// nonce is hex(unix nanoseconds) + hex(HMAC of them)[:32].
func (a *digestAuth) nonce(now time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixNano()))
	a.mu.Lock()
	key := a.key
	a.mu.Unlock()
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(nonceMAC(key, ts[:]))
}

func nonceMAC(key [32]byte, ts []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(ts)
	return m.Sum(nil)[:16]
}

// nonceState reports whether a nonce is ours, and whether it expired
// (or was given under the previous key). a.mu is held.
func (a *digestAuth) nonceState(nonce string, now time.Time) (ours, expired bool) {
	b, err := hex.DecodeString(nonce)
	if err != nil || len(b) != 24 {
		return false, false
	}
	if hmac.Equal(nonceMAC(a.oldKey, b[:8]), b[8:]) {
		return true, true
	}
	if !hmac.Equal(nonceMAC(a.key, b[:8]), b[8:]) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	return true, now.Sub(issued) > nonceLifetime || issued.After(now)
}

// check verifies the request's Authorization header.
func (a *digestAuth) check(r *http.Request, now time.Time) (user string, stale, ok bool) {
	auth := r.Header.Values("Authorization")
	if len(auth) != 1 {
		return "", false, false // none, or more than one a backend might read
	}
	scheme, rest, _ := strings.Cut(auth[0], " ")
	if !strings.EqualFold(scheme, "Digest") {
		return "", false, false
	}
	p := parseAuthParams(rest)
	user = p["username"]
	ha1, known := a.users[user]
	if !known {
		// Checked all the same, so that a wrong name takes as long as a
		// wrong password.
		ha1 = strings.Repeat("0", md5.Size*2)
	}
	if p["realm"] != a.realm || p["qop"] != "auth" || p["opaque"] != a.opaque ||
		(p["algorithm"] != "" && !strings.EqualFold(p["algorithm"], "MD5")) || p["uri"] != requestURI(r) || p["cnonce"] == "" {
		return "", false, false
	}
	nc, err := strconv.ParseUint(p["nc"], 16, 64)
	if err != nil {
		return "", false, false
	}
	ha2 := md5hex(r.Method + ":" + p["uri"])
	want := md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 || !known {
		return "", false, false
	}
	// The nonce is checked under the lock that guards the key and the
	// counters, so that a reset cannot come between the two.
	a.mu.Lock()
	defer a.mu.Unlock()
	ours, expired := a.nonceState(p["nonce"], now)
	switch {
	case !ours:
		return "", false, false
	case expired:
		return "", true, false // right password, old nonce: the client retries
	case nc <= a.seen[p["nonce"]]:
		return "", false, false // replayed
	case len(a.seen) >= maxNonces:
		// Forgetting the counters would let their nonces be replayed:
		// they go stale with the key that signed them.
		a.oldKey = a.key
		_, _ = rand.Read(a.key[:])
		clear(a.seen)
		return "", true, false
	}
	a.seen[p["nonce"]] = nc
	return user, false, true
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// parseAuthParams reads k=v and k="v" pairs separated by commas (quoted
// values may hold commas and escaped quotes).
func parseAuthParams(s string) map[string]string {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return out
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(s, `"`) {
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			s = s[min(i+1, len(s)):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val.WriteString(strings.TrimSpace(s[:end]))
			s = s[end:]
		}
		out[key] = val.String()
	}
}
