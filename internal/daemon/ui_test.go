package daemon

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ingress"
)

// A manager with --ui serves a router sent to api@internal through its
// ingress with its dashboard: the login stands (401 without a session),
// a login URL's token on the routed host gives the page, and the page's
// API answers from the cluster (the dashboard's client is wired).
func TestIngressRoutesAPIInternalToTheDashboard(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, UIAddr: "127.0.0.1:0", DockerAPISocket: DockerAPIOff,
		IngressAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := client.New(d.Host())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServiceCreate(ctx, api.ServiceSpec{Name: "traefik", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 0}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "300"}}},
		Labels:       map[string]string{"traefik.http.routers.dash.rule": "Host(`dash.example`)", "traefik.http.routers.dash.service": "api@internal"}}); err != nil {
		t.Fatal(err)
	}
	// The ingress builds its table from the store's events, after the
	// create returned.
	for {
		routes, err := c.IngressRoutes(ctx)
		if err == nil && len(routes) == 1 && routes[0].LoadBalancer == ingress.InternalAPI && routes[0].Refused == "" {
			break
		}
		if err != nil || len(routes) > 0 || ctx.Err() != nil {
			t.Fatalf("ingress routes: %+v, %v; want the router sent to api@internal", routes, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var jar []*http.Cookie
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.IngressAddr()+path, nil)
		req.Host = "dash.example"
		for _, ck := range jar {
			req.AddCookie(ck)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		jar = append(jar, resp.Cookies()...)
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	if code, body := get("/ui/"); code != http.StatusUnauthorized || !strings.Contains(body, "not logged in") {
		t.Fatalf("without a session: %d %q", code, body)
	}
	u, err := url.Parse(d.UILoginURL())
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(u.RequestURI()); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	if code, body := get("/ui/"); code != http.StatusOK || !strings.Contains(body, "<title>shoal</title>") {
		t.Fatalf("page with a session: %d %.200q", code, body)
	}
	if code, body := get("/ui/api/state"); code != http.StatusOK || !strings.Contains(body, `"traefik"`) {
		t.Fatalf("state with a session: %d %.300q", code, body)
	}
}
