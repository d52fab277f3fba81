package middleware

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// md5Vectors were made with openssl passwd -apr1 / -1 (an independent
// implementation); the first two are the users of Traefik's basicauth
// documentation (test:test, test2:test2).
var md5Vectors = []struct{ hash, password string }{
	{"$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test"},
	{"$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0", "test2"},
	{"$apr1$abcdefgh$L.PT565ESX4Tp2bqNs7Ie.", ""},
	{"$1$abcdefgh$M55TzYaaccxVGbptZWaxX/", ""},
	{"$apr1$s0$Jyk5LN7mC9u1RU4RGZoWL1", ""},
	{"$1$s0$zWfXtTOfDrB2w6G/gVRmB.", ""},
	{"$apr1$abcdefgh$G8IsPsylW5ROvIKsQMRG61", "a"},
	{"$1$abcdefgh$jUYc1Xi7pkozuzWQ0Dft71", "a"},
	{"$apr1$s0$5pZKv9AKl5gX.DSKsgY1B0", "a"},
	{"$1$s0$EvlUsyDe8Eps.JOzOVNpF.", "a"},
	{"$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1", "password"},
	{"$1$abcdefgh$G//4keteveJp0qb8z2DxG/", "password"},
	{"$apr1$s0$Tzi.xfguCPCrNvibQ.0Jm/", "password"},
	{"$1$s0$CVehhkDkfIXaRzV6b6Llf1", "password"},
	{"$apr1$abcdefgh$5MT.bUwCwhCf2blpqTwiG/", "correct horse battery staple"},
	{"$1$abcdefgh$4/U5.w6NPtLkJ2WyrTwm91", "correct horse battery staple"},
	{"$apr1$s0$g.xt8Bh8v2Vhxd/G374FQ0", "correct horse battery staple"},
	{"$1$s0$Xrul6qnys0sQvHpZbBSSv1", "correct horse battery staple"},
	{"$apr1$abcdefgh$01vP83lNg/Z9OR01ducbt.", "ümlaut"},
	{"$1$abcdefgh$WvSJp24BsyouWbY5zZuuQ.", "ümlaut"},
	{"$apr1$s0$maGVBTg/fGwm63hhp9Dhc/", "ümlaut"},
	{"$1$s0$yu5NYNR217ayctEdpyNII0", "ümlaut"},
}

func TestMD5Crypt(t *testing.T) {
	for _, v := range md5Vectors {
		if !checkHash(v.hash, v.password) {
			t.Errorf("checkHash(%q, %q) = false", v.hash, v.password)
		}
		if checkHash(v.hash, v.password+"x") {
			t.Errorf("checkHash(%q, %q+x) = true", v.hash, v.password)
		}
		if err := checkHashFormat(v.hash); err != nil {
			t.Errorf("checkHashFormat(%q) = %v", v.hash, err)
		}
	}
}

// bcryptHash is "s3cret" at cost 4 (golang.org/x/crypto/bcrypt);
// htpasswd -B writes the same hash with the $2y$ prefix.
const bcryptHash = "$2a$04$pRaS278Ive4RRNn01S/xE.4mm5fekZH1Q9JnDybsbkQy4NEpnRDk2"

func TestCheckHash(t *testing.T) {
	tests := []struct {
		hash, password string
		want           bool
	}{
		{bcryptHash, "s3cret", true},
		{bcryptHash, "s3cre", false},
		{"$2y$" + bcryptHash[4:], "s3cret", true},
		{"$2b$" + bcryptHash[4:], "s3cret", true},
		// {SHA}: base64(sha1("password")), as Apache's htpasswd -s.
		{"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password", true},
		{"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "Password", false},
		{"password", "password", false}, // plain text is never a match
	}
	for _, tt := range tests {
		if got := checkHash(tt.hash, tt.password); got != tt.want {
			t.Errorf("checkHash(%q, %q) = %v, want %v", tt.hash, tt.password, got, tt.want)
		}
	}
	for _, bad := range []string{"password", "$2a$04$short", "{SHA}" + base64.StdEncoding.EncodeToString([]byte("short")), "$apr1$salt$tooshort", "abJnggxhB/yWI"} {
		if err := checkHashFormat(bad); err == nil {
			t.Errorf("checkHashFormat(%q) = nil, want an error", bad)
		}
	}
}

func basic(user, password string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestBasicAuth(t *testing.T) {
	users := "users=test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/,test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0,bob:" + bcryptHash + ",sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="
	tests := []struct {
		name       string
		opts       []Option
		auth       string
		wantCode   int
		wantRealm  string
		wantHeader map[string]string // what the backend sees
	}{
		{"no credentials", opts(users), "", 401, `Basic realm="traefik"`, nil},
		{"wrong password", opts(users), basic("test", "nope"), 401, `Basic realm="traefik"`, nil},
		{"unknown user", opts(users), basic("eve", "test"), 401, `Basic realm="traefik"`, nil},
		{"apr1", opts(users), basic("test", "test"), 200, "", map[string]string{"Authorization": basic("test", "test")[len("Authorization: "):]}},
		{"apr1 second", opts(users), basic("test2", "test2"), 200, "", nil},
		{"bcrypt", opts(users), basic("bob", "s3cret"), 200, "", nil},
		{"sha", opts(users), basic("sha", "password"), 200, "", nil},
		{"realm", opts(users, "realm=MyRealm"), "", 401, `Basic realm="MyRealm"`, nil},
		{"removeHeader", opts(users, "removeHeader=true"), basic("test", "test"), 200, "", map[string]string{"Authorization": ""}},
		{"headerField", opts(users, "headerField=X-WebAuth-User"), basic("bob", "s3cret"), 200, "", map[string]string{"X-Webauth-User": "bob"}},
		{"headerField spoofed", opts(users, "headerField=X-WebAuth-User"), basic("bob", "s3cret") + "\x00X-WebAuth-User: admin", 200, "", map[string]string{"X-Webauth-User": "bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hs []string
			for _, h := range strings.Split(tt.auth, "\x00") {
				if h != "" {
					hs = append(hs, h)
				}
			}
			rec, s := serve(t, "basicauth", tt.opts, req("GET", "/", hs...))
			if rec.Code != tt.wantCode || s.called != (tt.wantCode == 200) {
				t.Fatalf("status %d (backend called %v), want %d", rec.Code, s.called, tt.wantCode)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantRealm {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantRealm)
			}
			for k, v := range tt.wantHeader {
				if got := s.header.Get(k); got != v {
					t.Errorf("backend saw %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestBasicAuthErrors(t *testing.T) {
	wantErr(t, "basicauth", nil, "users", "required")
	wantErr(t, "basicauth", opts("users=admin:secret"), `user "admin"`, "plain-text passwords are refused")
	wantErr(t, "basicauth", opts("users=a:"+bcryptHash+",a:"+bcryptHash), "listed twice")
	wantErr(t, "basicauth", opts("users=nocolon"), "not USER:HASH")
	// A password in the wrong place is never repeated: errors reach
	// logs, plans and (for a running service) 503 answers.
	for _, users := range []string{"users=hunter2secret", "users=admin:hunter2secret"} {
		if _, err := New("basicauth", opts(users)); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("New(%s) = %v, want an error that does not repeat the password", users, err)
		}
	}
	wantErr(t, "basicauth", opts("usersFile=/run/secrets/users"), "usersFile", "no file can be read here")
	wantErr(t, "basicauth", opts("users=a:"+bcryptHash, `realm=a"b`), "realm")
}

// An unknown user costs what a known one does: the check is made
// against a configured user's hash, not a bcrypt hash of another cost
// (which told names apart and, with cheap {SHA} or apr1 users, made
// every unknown name cost a bcrypt).
func TestBasicAuthUnknownUserCostsAsAKnownOne(t *testing.T) {
	m, err := New("basicauth", opts("users=sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="))
	if err != nil {
		t.Fatal(err)
	}
	h := m(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	fastest := func(auth string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			h.ServeHTTP(httptest.NewRecorder(), req("GET", "/", auth))
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := fastest(basic("sha", "wrong")), fastest(basic("nobody", "wrong"))
	if unknown > 10*known+2*time.Millisecond {
		t.Errorf("an unknown user takes %v, a known one %v: names can be told apart", unknown, known)
	}
}

// A password is not hashed when it is longer than any real one: MD5-crypt
// hashes it a thousand times, so a 1 MiB header cost seconds of CPU.
func TestBasicAuthLongPasswordIsNotHashed(t *testing.T) {
	long := strings.Repeat("x", 512<<10)
	start := time.Now()
	rec, s := serve(t, "basicauth", opts("users=test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"), req("GET", "/", basic("test", long)))
	if rec.Code != http.StatusUnauthorized || s.called {
		t.Fatalf("status %d, want 401", rec.Code)
	}
	if d := time.Since(start); d > time.Second { // 4.9s when hashed
		t.Errorf("a %d-byte password took %v to refuse", len(long), d)
	}
	// The longest accepted password still logs in.
	pw := strings.Repeat("p", maxPasswordBytes)
	sum := sha1.Sum([]byte(pw))
	rec, _ = serve(t, "basicauth", opts("users=u:{SHA}"+base64.StdEncoding.EncodeToString(sum[:])), req("GET", "/", basic("u", pw)))
	if rec.Code != http.StatusOK {
		t.Errorf("a %d-byte password: %d, want 200", len(pw), rec.Code)
	}
}

// A bcrypt cost past maxBcryptCost is refused: every login attempt for
// that user (anyone may try) would hold a core for seconds to hours.
func TestBasicAuthBcryptCostBounded(t *testing.T) {
	costly := "$2a$31$" + bcryptHash[7:]
	wantErr(t, "basicauth", opts("users=a:"+costly), `user "a"`, "cost 31")
	if _, err := New("basicauth", opts("users=a:"+bcryptHash)); err != nil {
		t.Errorf("cost 4: %v", err)
	}
}

// Two Authorization headers are refused: the middleware checks the
// first, and a backend reading the last would take a user nobody
// authenticated.
func TestBasicAuthRepeatedAuthorization(t *testing.T) {
	rec, s := serve(t, "basicauth", opts("users=bob:"+bcryptHash), req("GET", "/", basic("bob", "s3cret"), basic("admin", "x")))
	if rec.Code != http.StatusUnauthorized || s.called {
		t.Errorf("status %d (backend called %v), want 401", rec.Code, s.called)
	}
}

// usersFile is read through the Files the ingress gives (a secret of the
// service), merged with users; blank and # lines are skipped. A file
// that cannot be read, lists nobody or holds a bad line refuses the
// middleware, naming usersFile; one that exists but is not read here
// (the managers checking labels) leaves the rest checked.
func TestAuthUsersFile(t *testing.T) {
	files := func(content string, err error) Files {
		return func(path string) ([]byte, error) {
			if path != "/run/secrets/users" {
				t.Errorf("read %q", path)
			}
			return []byte(content), err
		}
	}
	file := "# admins\n\n  test:" + md5Vectors[0].hash + "  \n"
	m, err := NewWithFiles("basicauth", opts("usersFile=/run/secrets/users", "users=test2:"+md5Vectors[1].hash), files(file, nil))
	if err != nil {
		t.Fatal(err)
	}
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, c := range []struct {
		user, password string
		want           int
	}{
		{"test", "test", 200}, {"test2", "test2", 200}, {"test", "wrong", 401}, {"admins", "", 401},
	} {
		r := req("GET", "/")
		r.SetBasicAuth(c.user, c.password)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != c.want {
			t.Errorf("%s:%s: %d, want %d", c.user, c.password, rec.Code, c.want)
		}
	}
	wantNew := func(typ string, f Files, want ...string) {
		t.Helper()
		_, err := NewWithFiles(typ, opts("usersFile=/run/secrets/users"), f)
		if err == nil {
			t.Fatalf("%s: no error, want %q", typ, want)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", typ, err, w)
			}
		}
	}
	wantNew("basicauth", files("", errors.New("no such secret")), "option usersFile", "no such secret")
	wantNew("basicauth", files("# nobody\n", nil), "option usersFile", "lists no user")
	wantNew("basicauth", files("test:plain", nil), "option usersFile", "plain-text passwords are refused")
	wantNew("digestauth", files("u:other:"+strings.Repeat("a", 32), nil), "option usersFile", "realm")
	if _, err := NewWithFiles("basicauth", opts("usersFile=/run/secrets/users"), files("", ErrNotRead)); err != nil {
		t.Errorf("a file not read here: %v", err)
	}
	d, err := NewWithFiles("digestauth", opts("usersFile=/run/secrets/users"), files("u:traefik:"+strings.Repeat("a", 32)+"\n", nil))
	if err != nil || d == nil {
		t.Errorf("digestauth from a file: %v", err)
	}
}
