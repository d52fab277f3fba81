package ingress_test

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// checkTarget is a server that records the checks it gets and answers
// them with status (over HTTP/2 only when h2c).
type checkTarget struct {
	addr   string
	status atomic.Int32
	mu     sync.Mutex
	seen   []*http.Request
}

func startCheckTarget(t *testing.T, h2c bool) *checkTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ct := &checkTarget{addr: ln.Addr().String()}
	ct.status.Store(http.StatusOK)
	srv := &http.Server{ReadHeaderTimeout: testTimeout}
	if h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct.mu.Lock()
		ct.seen = append(ct.seen, r)
		ct.mu.Unlock()
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/failing", http.StatusFound)
		case "/away":
			http.Redirect(w, r, "http://192.0.2.1/health", http.StatusFound)
		case "/failing":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(int(ct.status.Load()))
		}
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("check target: %v", err)
		}
	})
	return ct
}

func (ct *checkTarget) last() *http.Request {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if len(ct.seen) == 0 {
		return nil
	}
	return ct.seen[len(ct.seen)-1]
}

func (ct *checkTarget) port() string {
	_, p, _ := net.SplitHostPort(ct.addr)
	return p
}

// Traefik's check options: method, Host, headers, port (the task's
// address with another port) and the one status that passes.
func TestHealthCheckOptions(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	ct := startCheckTarget(t, false)
	ct.status.Store(http.StatusNoContent)
	app := startBackend(t, "a", nil) // serves requests; the checks go to ct's port
	e.table.Reset([]*api.Service{service("s1", "web", webLabels(
		"traefik.http.services.signup-web.loadbalancer.healthcheck.path=/ready",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.interval=1h",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.unhealthyinterval=5ms",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.method=HEAD",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.hostname=check.example",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.headers.x-check=yes",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.port="+ct.port(),
		"traefik.http.services.signup-web.loadbalancer.healthcheck.status=204",
	))}, []*api.Task{task("ta", "s1", app.addr())})
	waitFor(t, "a check", func() bool { return ct.last() != nil })
	r := ct.last()
	if r.Method != http.MethodHead || r.Host != "check.example" || r.Header.Get("X-Check") != "yes" || r.URL.Path != "/ready" {
		t.Errorf("check %s %s Host %q X-Check %q", r.Method, r.URL.Path, r.Host, r.Header.Get("X-Check"))
	}
	if downOf(e.table) != "" {
		t.Fatalf("down: %s, want none (204 passes)", downOf(e.table))
	}
	// 200 is not the status set: down; checked again every unhealthy
	// interval (5ms, not the hour), so it comes back at once on 204.
	ct.status.Store(http.StatusOK)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels(
		"traefik.http.services.signup-web.loadbalancer.healthcheck.path=/ready",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.interval=1h",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.unhealthyinterval=5ms",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.port="+ct.port(),
		"traefik.http.services.signup-web.loadbalancer.healthcheck.status=204",
	))}, []*api.Task{task("ta", "s1", app.addr())})
	waitFor(t, "200 to fail a check that wants 204", func() bool { return downOf(e.table) == "ta" })
	ct.status.Store(http.StatusNoContent)
	waitFor(t, "the unhealthy interval's next check to pass", func() bool { return downOf(e.table) == "" })
}

// Checks of an h2c service go over cleartext HTTP/2, as its requests.
func TestHealthCheckOverH2C(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	ct := startCheckTarget(t, true)
	e.table.Reset([]*api.Service{service("s1", "grpc", labels(
		"traefik.http.routers.g.rule=PathPrefix(`/`)",
		"traefik.http.services.g.loadbalancer.server.port=80",
		"traefik.http.services.g.loadbalancer.server.scheme=h2c",
		"traefik.http.services.g.loadbalancer.healthcheck.path=/health",
		"traefik.http.services.g.loadbalancer.healthcheck.interval=5ms",
	))}, []*api.Task{task("ta", "s1", ct.addr)})
	waitFor(t, "a check", func() bool { return ct.last() != nil })
	if r := ct.last(); r.ProtoMajor != 2 {
		t.Errorf("check over %s, want HTTP/2", r.Proto)
	}
	ct.status.Store(http.StatusServiceUnavailable)
	waitFor(t, "a failing check", func() bool { return downOf(e.table) == "ta" })
}

// followredirects follows redirects to the task only: /moved leads to a
// failing page (a 3xx alone passes without it), /away to another host.
func TestHealthCheckFollowsRedirectsToTheTaskOnly(t *testing.T) {
	for _, tc := range []struct {
		path, follow string
		down         bool
	}{
		{"/moved", "false", false},
		{"/moved", "true", true},
		{"/away", "true", true},
		{"/health", "true", false},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/")+"-"+tc.follow, func(t *testing.T) {
			e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
			ct := startCheckTarget(t, false)
			e.table.Reset([]*api.Service{service("s1", "web", webLabels(
				"traefik.http.services.signup-web.loadbalancer.healthcheck.path="+tc.path,
				"traefik.http.services.signup-web.loadbalancer.healthcheck.interval=1h",
				"traefik.http.services.signup-web.loadbalancer.healthcheck.timeout=1s",
				"traefik.http.services.signup-web.loadbalancer.healthcheck.followredirects="+tc.follow,
			))}, []*api.Task{task("ta", "s1", ct.addr)})
			waitFor(t, "the first check", func() bool { return ct.last() != nil })
			want := ""
			if tc.down {
				want = "ta"
			}
			waitFor(t, "down="+strconv.FormatBool(tc.down), func() bool { return downOf(e.table) == want })
		})
	}
}

// Bad check options are refused with the label and the reason.
func TestHealthCheckOptionsRefused(t *testing.T) {
	base := []string{"traefik.http.routers.r.rule=PathPrefix(`/`)", "traefik.http.services.s.loadbalancer.server.port=80",
		"traefik.http.services.s.loadbalancer.healthcheck.path=/health"}
	for opt, want := range map[string]string{
		"healthcheck.status=99":           "100 to 599",
		"healthcheck.port=0":              "1 to 65535",
		"healthcheck.method=GET /x":       "not a method",
		"healthcheck.scheme=ftp":          "not http, https or h2c",
		"healthcheck.hostname=a/b":        "not a host name",
		"healthcheck.followredirects=yes": "not true or false",
		"healthcheck.unhealthyinterval=0": "positive duration",
		"healthcheck.headers.Host=x":      "healthcheck.hostname",
		"healthcheck.headers.X-A=a\rb":    "not a valid header",
		"healthcheck.mode=grpc":           "mode=grpc",
	} {
		key := "traefik.http.services.s.loadbalancer." + strings.SplitN(opt, "=", 2)[0]
		err := ingress.ValidateLabels(labels(append(base, "traefik.http.services.s.loadbalancer."+opt)...))
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s refused: %s", opt, err, key, want)
		}
	}
}
