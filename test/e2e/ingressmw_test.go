package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// A Traefik-protected dashboard deployed as a stack: without credentials
// the ingress answers 401 with a Basic challenge and the task is never
// reached; with them the request reaches the task with the prefix
// stripped. The same file with a middleware the ingress does not
// implement is refused, naming the label, and nothing is created.
func TestStackDashboardBasicAuthStripPrefix(t *testing.T) {
	d, c, base := trafficCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	t.Setenv("TESTAPP", testApp)
	file := filepath.Join("testdata", "dashboard.yml")

	// Fail closed: a middleware the ingress does not implement.
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	badSrc := strings.Replace(string(src), "admin-auth.basicauth.users=admin:$$apr1$$H6uskkkW$$IgXLP6ewTrSuBkTrqE8wj/",
		"admin-auth.plugin.blockpath.regex=^/admin", 1)
	if err := os.WriteFile(bad, []byte(badSrc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--dry-run"}, {"-d"}} {
		_, errOut, code := shoal(t, d, append(append([]string{"stack", "deploy"}, args...), "-c", bad, "dash")...)
		if code == 0 || !strings.Contains(errOut, "traefik.http.middlewares.admin-auth.plugin.blockpath.regex") || !strings.Contains(errOut, "not supported") {
			t.Fatalf("deploy %v with a plugin middleware: exit %d: %s", args, code, errOut)
		}
	}
	if svcs, _ := c.ServiceList(ctx); len(svcs) != 0 {
		t.Fatalf("a refused stack created %d services", len(svcs))
	}

	out, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", file, "dash")
	if code != 0 {
		t.Fatalf("deploy: exit %d: %s %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "label traefik.docker.network has no effect") {
		t.Errorf("no warning for the label the ingress ignores: %q", errOut)
	}

	get := func(path, user, password string) (*http.Response, string) {
		t.Helper()
		return getAuth(t, ctx, base+path, user, password)
	}
	// The testapp serves its JSON only on "/": the prefix was stripped.
	waitDashboard(t, ctx, base, "admin", "test")
	if resp, body := get("/dashboard/env", "admin", "test"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "SHOAL_SERVICE_NAME") {
		t.Errorf("/dashboard/env: %s %q, want the task's /env", resp.Status, body)
	}

	for _, tc := range []struct{ user, password string }{{"", ""}, {"admin", "wrong"}, {"root", "test"}} {
		resp, body := get("/dashboard/", tc.user, tc.password)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="traefik"` {
			t.Errorf("credentials %q/%q: %s %q (WWW-Authenticate %q), want 401 with a Basic challenge",
				tc.user, tc.password, resp.Status, body, resp.Header.Get("WWW-Authenticate"))
		}
		if strings.Contains(body, "serviceName") {
			t.Errorf("credentials %q/%q reached the task", tc.user, tc.password)
		}
	}

	// service create and update refuse them too, naming the label.
	spec := signupWeb(1, false)
	spec.Labels["traefik.frontend.rule"] = "PathPrefix:/app/"
	if _, err := c.ServiceCreate(ctx, spec); err == nil || !strings.Contains(err.Error(), "label traefik.frontend.rule: a Traefik v1 label") ||
		!strings.Contains(err.Error(), "traefik.http.routers.NAME.rule") {
		t.Errorf("create with a v1 label: %v, want it refused with the v3 form", err)
	}
	svc, err := c.ServiceInspect(ctx, "dash_dashboard")
	if err != nil {
		t.Fatal(err)
	}
	upd := svc.Spec
	upd.Labels = map[string]string{}
	for k, v := range svc.Spec.Labels {
		upd.Labels[k] = v
	}
	upd.Labels["traefik.http.routers.dashboard.middlewares"] = "admin-auth,dashboard-strip,missing"
	if _, err := c.ServiceUpdate(ctx, svc.ID, svc.Version, upd); err == nil || !strings.Contains(err.Error(), `middleware "missing" is not defined`) {
		t.Errorf("update naming an undefined middleware: %v, want it refused", err)
	}
}

// The websecure entry point: plain HTTP is redirected to HTTPS by the
// http router's redirectscheme, and the tls=true router serves over
// HTTPS (HTTP/2) behind basic auth, with the node's certificate.
func TestStackRedirectToWebsecure(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	d, c := devClusterWith(t, daemon.DevConfig{IngressAddr: "127.0.0.1:0", IngressTLSAddr: "127.0.0.1:0",
		IngressCertificates: []tls.Certificate{cert}, DrainDelay: 300 * time.Millisecond})
	ctx := ctxTimeout(t, 90*time.Second)
	_, port, _ := net.SplitHostPort(d.IngressTLSAddr())
	t.Setenv("TESTAPP", testApp)
	t.Setenv("HTTPS_PORT", port)
	if out, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", filepath.Join("testdata", "websecure.yml"), "sec"); code != 0 {
		t.Fatalf("deploy: exit %d: %s %s", code, out, errOut)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url string, auth bool) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if auth {
			req.SetBasicAuth("admin", "test")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	secure := "https://127.0.0.1:" + port + "/"
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, body := get(secure, true)
		if resp.StatusCode == http.StatusOK {
			if resp.ProtoMajor != 2 || !strings.Contains(body, `"serviceName": "sec_app"`) {
				t.Fatalf("HTTPS: %s %q", resp.Proto, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTPS router not served: %s %q", resp.Status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, _ := get(secure, false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("HTTPS without credentials: %s, want 401", resp.Status)
	}
	resp, _ := get("http://"+d.IngressAddr()+"/x?y=1", true)
	if want := "https://127.0.0.1:" + port + "/x?y=1"; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %s Location %q, want 301 to %s", resp.Status, resp.Header.Get("Location"), want)
	}
	if svcs, _ := c.ServiceList(ctx); len(svcs) != 1 {
		t.Errorf("%d services", len(svcs))
	}
}

// basicauth's usersfile names the secret the service mounts: a stack
// that keeps its users in a secret deploys, and the ingress checks
// credentials against the secret's lines. A usersfile that is not one of
// the service's secrets is refused at deploy, naming the label.
func TestStackBasicAuthUsersFileFromSecret(t *testing.T) {
	d, c, base := trafficCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	t.Setenv("TESTAPP", testApp)
	file := filepath.Join("testdata", "dashboard-secret.yml")

	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// The bad file next to a copy of the users: a secret's file is
	// relative to its compose file.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	users, err := os.ReadFile(filepath.Join("testdata", "dashboard-users.htpasswd"))
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.WriteFile(filepath.Join(dir, "dashboard-users.htpasswd"), users, 0o600),
		os.WriteFile(bad, []byte(strings.Replace(string(src), "usersfile=/run/secrets/users", "usersfile=/etc/htpasswd", 1)), 0o600)); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", bad, "dash"); code == 0 ||
		!strings.Contains(errOut, "traefik.http.middlewares.admin-auth.basicauth.usersfile") || !strings.Contains(errOut, "not a secret of the service") {
		t.Fatalf("deploy with a usersfile outside the secrets: exit %d: %s", code, errOut)
	}
	if out, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", file, "dash"); code != 0 {
		t.Fatalf("deploy: exit %d: %s %s", code, out, errOut)
	}
	waitDashboard(t, ctx, base, "admin", "test")
	for _, tc := range []struct{ user, password string }{{"", ""}, {"admin", "wrong"}} {
		if resp, body := getAuth(t, ctx, base+"/dashboard/", tc.user, tc.password); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "serviceName") {
			t.Errorf("credentials %q/%q: %s, want 401", tc.user, tc.password, resp.Status)
		}
	}
	if svcs, _ := c.ServiceList(ctx); len(svcs) != 1 {
		t.Errorf("%d services, want the dashboard alone", len(svcs))
	}
}

// getAuth GETs url, with basic auth when user is set, and reads the body.
func getAuth(t *testing.T, ctx context.Context, url, user, password string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// waitDashboard waits until base/dashboard/ answers the stack dash's
// task with the credentials given: the task has started.
func waitDashboard(t *testing.T, ctx context.Context, base, user, password string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, body := getAuth(t, ctx, base+"/dashboard/", user, password)
		if resp.StatusCode == http.StatusOK {
			if !strings.Contains(body, `"serviceName": "dash_dashboard"`) {
				t.Fatalf("with credentials: %q", body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard not served: %s %q", resp.Status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A worker's ingress checks basicauth against the users file secret of a
// service that runs no task on it: the managers send the secret on its
// routes stream (the node runs an ingress, and the service's labels read
// it), and it serves the router as the manager's ingress does.
func TestAgentIngressUsersFileFromSecret(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	ac, _ := newAgentCluster(t, ctx)
	a := ac.startAgent("agent-a", "127.0.0.2")
	users, err := os.ReadFile(filepath.Join("testdata", "dashboard-users.htpasswd"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.c.SecretCreate(ctx, api.SecretSpec{Name: "dash_users", Data: users}); err != nil {
		t.Fatal(err)
	}
	spec := processSpec("dash_dashboard", 1, testApp)
	spec.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.role==manager"}}
	spec.TaskTemplate.ContainerSpec.Secrets = []api.SecretReference{{SecretName: "dash_users", File: &api.FileTarget{Name: "users"}}}
	spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}}
	spec.Labels = map[string]string{
		"traefik.http.routers.dashboard.rule":                      "PathPrefix(`/dashboard`)",
		"traefik.http.routers.dashboard.middlewares":               "admin-auth,strip",
		"traefik.http.middlewares.admin-auth.basicauth.usersfile":  "/run/secrets/users",
		"traefik.http.middlewares.strip.stripprefix.prefixes":      "/dashboard",
		"traefik.http.services.dashboard.loadbalancer.server.port": "80",
	}
	if _, err := ac.c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, ac.c, "dash_dashboard", "1 running", nRunning(1))
	if tasks[0].NodeID == a.id {
		t.Fatalf("the task runs on the agent; the test needs it elsewhere")
	}
	waitDashboard(t, ctx, a.ingress, "admin", "test")
	if resp, _ := getAuth(t, ctx, a.ingress+"/dashboard/", "admin", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password on the agent's ingress: %s, want 401", resp.Status)
	}
}

// A stack's router names a middleware another stack's service defines,
// as the dockerswarm.rocks stacks use the Traefik stack's admin-auth: it
// deploys and is protected by it. A stack naming a middleware no service
// defines is refused by the plan, and nothing is created.
func TestStackUsesAnotherStacksMiddleware(t *testing.T) {
	d, c, base := trafficCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	t.Setenv("TESTAPP", testApp)
	dir := t.TempDir()
	app := func(mw string) string {
		return `services:
  dashboard:
    command: ["${TESTAPP}"]
    deploy:
      labels:
        - "traefik.http.routers.dashboard.rule=PathPrefix(` + "`/dashboard`" + `)"
        - "traefik.http.routers.dashboard.middlewares=` + mw + `,strip"
        - "traefik.http.middlewares.strip.stripprefix.prefixes=/dashboard"
        - "traefik.http.services.dashboard.loadbalancer.server.port=80"
`
	}
	files := map[string]string{
		"traefik.yml": `services:
  traefik:
    command: ["${TESTAPP}"]
    deploy:
      labels:
        - "traefik.http.routers.api.rule=PathPrefix(` + "`/api`" + `)"
        - "traefik.http.services.api.loadbalancer.server.port=80"
        - "traefik.http.middlewares.admin-auth.basicauth.users=admin:$$apr1$$H6uskkkW$$IgXLP6ewTrSuBkTrqE8wj/"
`,
		"bad.yml": app("typo-auth"),
		"app.yml": app("admin-auth@swarm"),
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", filepath.Join(dir, "bad.yml"), "dash"); code == 0 ||
		!strings.Contains(errOut, `middleware "typo-auth" is not defined`) || !strings.Contains(errOut, "nothing was changed") {
		t.Fatalf("deploy naming an undefined middleware: exit %d: %s", code, errOut)
	}
	if svcs, _ := c.ServiceList(ctx); len(svcs) != 0 {
		t.Fatalf("a refused stack created %d services", len(svcs))
	}
	for _, st := range []struct{ file, name string }{{"traefik.yml", "traefik"}, {"app.yml", "dash"}} {
		if out, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", filepath.Join(dir, st.file), st.name); code != 0 {
			t.Fatalf("deploy %s: exit %d: %s %s", st.file, code, out, errOut)
		}
	}
	waitDashboard(t, ctx, base, "admin", "test")
	if resp, body := getAuth(t, ctx, base+"/dashboard/", "", ""); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "serviceName") {
		t.Errorf("no credentials: %s, want 401", resp.Status)
	}

	// shoal ingress routes shows what the ingress serves, in matching
	// order: the longer rule first.
	out, errOut, code := shoal(t, d, "ingress", "routes")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "SERVICE ROUTER ENTRYPOINTS RULE PRIORITY MIDDLEWARES BACKENDS STATUS" ||
		!strings.Contains(lines[1], "dash_dashboard") || !strings.Contains(lines[2], "traefik_traefik") {
		t.Fatalf("ingress routes: exit %d: %q %s", code, out, errOut)
	}
	out, _, _ = shoal(t, d, "ingress", "ls", "--format", "{{.Router}} {{.EntryPoints}} {{.Middlewares}} {{.Backends}} {{.Status}}")
	if got := strings.Split(strings.TrimSpace(out), "\n"); got[0] != "dashboard web admin-auth@swarm,strip 1/1 serving" {
		t.Errorf("ingress ls --format: %q", out)
	}
}
