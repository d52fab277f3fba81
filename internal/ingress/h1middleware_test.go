package ingress_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// uriEcho answers with the request as the backend received it: method,
// request target, Host and headers.
var uriEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "uri": r.RequestURI, "host": r.Host, "header": r.Header, "body": string(body),
	})
})

// answer is what a client got, for comparing both paths.
type answer struct {
	Status int
	Header http.Header
	Body   string
}

// The middlewares the fast path runs itself give the same answers, and
// send the backend the same request, as on the net/http path (where
// SlowMiddlewares sends them): each case's requests go, in order and on
// one keep-alive connection, through a proxy of each kind with its own
// table (the middlewares' state, rate limits, is per table).
func TestFastPathMiddlewaresAnswerAsNetHTTP(t *testing.T) {
	const (
		port = "traefik.http.services.s.loadbalancer.server.port=80"
		// admin:password, {SHA} and apr1.
		shaUser  = "admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="
		authGood = "Authorization: Basic YWRtaW46cGFzc3dvcmQ=\r\n"
		authBad  = "Authorization: Basic YWRtaW46d3Jvbmc=\r\n" // admin:wrong
	)
	get := func(path string, hdr ...string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: app.example\r\n" + strings.Join(hdr, "") + "\r\n"
	}
	cases := []struct {
		name   string
		labels []string
		reqs   []string
	}{
		{"basicauth+headers+stripprefix", []string{
			"traefik.http.routers.r.middlewares=auth,hdr,strip",
			"traefik.http.middlewares.auth.basicauth.users=" + shaUser,
			"traefik.http.middlewares.hdr.headers.customrequestheaders.X-Bench=yes",
			"traefik.http.middlewares.hdr.headers.customrequestheaders.X-Drop=",
			"traefik.http.middlewares.strip.stripprefix.prefixes=/app",
		}, []string{
			get("/app/x?q=1;a=2&b=3", authGood, "X-Drop: gone\r\nX-Forwarded-Prefix: /spoofed\r\nX-Forwarded-For: 10.9.9.9\r\n"),
			get("/app/x", authBad),
			get("/app/x"),
			"HEAD /app/ HTTP/1.1\r\nHost: app.example\r\n\r\n",
			"POST /app/form HTTP/1.1\r\nHost: app.example\r\n" + authGood + "Content-Length: 5\r\n\r\nhello",
			"POST /app/form HTTP/1.1\r\nHost: app.example\r\nContent-Length: 5\r\n\r\nhello",
			get("/app/%7Euser/../a//b", authGood, "Connection: X-Hop\r\nX-Hop: 1\r\nTe: trailers\r\n"),
			get("/other", authGood),
		}},
		{"basicauth headerField removeHeader bcrypt", []string{
			"traefik.http.routers.r.middlewares=auth",
			"traefik.http.middlewares.auth.basicauth.users=" + bcryptUser,
			"traefik.http.middlewares.auth.basicauth.headerField=X-WebAuth-User",
			"traefik.http.middlewares.auth.basicauth.removeheader=true",
			"traefik.http.middlewares.auth.basicauth.realm=shoal",
		}, []string{
			get("/x", "Authorization: "+basicAuth("admin", "s3cret")+"\r\nX-WebAuth-User: root\r\n"),
			get("/x", "Authorization: "+basicAuth("admin", "nope")+"\r\n"),
			get("/x", "Authorization: "+basicAuth("admin", "s3cret")+"\r\nAuthorization: "+basicAuth("x", "y")+"\r\n"),
		}},
		{"redirects", []string{
			"traefik.http.routers.r.middlewares=rs",
			"traefik.http.middlewares.rs.redirectscheme.scheme=https",
			"traefik.http.middlewares.rs.redirectscheme.permanent=true",
		}, []string{get("/a?b=c"), "POST /a HTTP/1.1\r\nHost: app.example:8080\r\nContent-Length: 2\r\n\r\nhi"}},
		{"redirectregex", []string{
			"traefik.http.routers.r.middlewares=rr",
			"traefik.http.middlewares.rr.redirectregex.regex=^http://app.example/old/(.*)",
			"traefik.http.middlewares.rr.redirectregex.replacement=http://app.example/new/${1}",
		}, []string{get("/old/x?y=1"), get("/new/x")}},
		{"path middlewares", []string{
			"traefik.http.routers.r.middlewares=sr,ap,rp",
			"traefik.http.middlewares.sr.stripprefixregex.regex=/v[0-9]+",
			"traefik.http.middlewares.ap.addprefix.prefix=/api",
			"traefik.http.middlewares.rp.replacepathregex.regex=^/api/(.*)/raw$",
			"traefik.http.middlewares.rp.replacepathregex.replacement=/raw/$1",
		}, []string{get("/v2/items"), get("/v10/a%20b/raw?x=%41"), get("/plain")}},
		{"replacepath", []string{
			"traefik.http.routers.r.middlewares=rp",
			"traefik.http.middlewares.rp.replacepath.path=/fixed",
		}, []string{get("/any/thing?k=v")}},
		{"ipallowlist deny", []string{
			"traefik.http.routers.r.middlewares=ip",
			"traefik.http.middlewares.ip.ipallowlist.sourcerange=10.0.0.0/8",
		}, []string{get("/x"), get("/x", "X-Forwarded-For: 10.0.0.1\r\n")}},
		{"ipallowlist allow", []string{
			"traefik.http.routers.r.middlewares=ip",
			"traefik.http.middlewares.ip.ipallowlist.sourcerange=127.0.0.1/32",
		}, []string{get("/x")}},
		{"ratelimit and inflightreq", []string{
			"traefik.http.routers.r.middlewares=rl,inf",
			"traefik.http.middlewares.rl.ratelimit.average=1",
			"traefik.http.middlewares.rl.ratelimit.period=1h",
			"traefik.http.middlewares.rl.ratelimit.burst=2",
			"traefik.http.middlewares.inf.inflightreq.amount=1",
		}, []string{get("/1"), get("/2"), get("/3")}},
		{"headers Host and a chain", []string{
			"traefik.http.routers.r.middlewares=c",
			"traefik.http.middlewares.c.chain.middlewares=h,strip",
			"traefik.http.middlewares.h.headers.customrequestheaders.Host=backend.internal",
			"traefik.http.middlewares.h.headers.customrequestheaders.X-Forwarded-Proto=https",
			"traefik.http.middlewares.strip.stripprefix.prefixes=/p",
		}, []string{get("/p/q")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got [2][]answer
			for i, slow := range []bool{false, true} {
				e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
				if slow {
					ingress.SlowMiddlewares(e.proxy)
				}
				b := startBackend(t, "a", uriEcho)
				e.table.Reset([]*api.Service{service("s1", "app", labels(append([]string{
					"traefik.http.routers.r.rule=PathPrefix(`/`)", port}, tc.labels...)...))},
					[]*api.Task{task("t1", "s1", b.addr())})
				rc := e.dialRaw()
				for _, req := range tc.reqs {
					rc.send(req)
					resp, body := rc.read(strings.Fields(req)[0])
					resp.Header.Del("Date")
					got[i] = append(got[i], answer{resp.StatusCode, resp.Header, body})
					if resp.Close {
						rc = e.dialRaw()
					}
				}
				if h := ingress.Handoffs(e.proxy); (h == 0) == slow {
					t.Errorf("slow=%v: %d handoffs", slow, h)
				}
			}
			for i := range tc.reqs {
				if !reflect.DeepEqual(got[0][i], got[1][i]) {
					t.Errorf("request %d %q:\nfast path: %s\nnet/http:  %s", i, tc.reqs[i], show(got[0][i]), show(got[1][i]))
				}
			}
		})
	}
}

func show(a answer) string { return fmt.Sprintf("%d %v %q", a.Status, a.Header, a.Body) }
