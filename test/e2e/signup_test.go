package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/testutil"
)

// The signup-style stack deploys with real containers: external networks,
// a config and a secret delivered as files, the image's health check
// gating traffic, and sticky sessions through the ingress.
func TestSignupStackWithContainers(t *testing.T) {
	d, _, base := dockerCluster(t)
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)
	t.Setenv("APP_IMAGE", image)
	for _, n := range []string{"signup-net", "frontend-net"} {
		if _, err := c.NetworkCreate(ctx, api.NetworkSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ConfigCreate(ctx, api.ConfigSpec{Name: "signup-web-appsettings", Data: []byte(`{"env":"test"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SecretCreate(ctx, api.SecretSpec{Name: "signup-web-connectionstrings", Data: []byte("Server=db;Password=hush")}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := shoal(t, d, "stack", "deploy", "-c", filepath.Join("testdata", "signup-docker.yml"), "signup")
	if code != 0 {
		t.Fatalf("stack deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	tasks := waitTasks(t, ctx, c, "signup_signup-web", "2 healthy web containers", nRunning(2))

	// The config and the secret are files in the container.
	ep := running(tasks)[0].Endpoints[0].Addr
	for path, want := range map[string]string{
		"/web-app/configs/config.json":             `{"env":"test"}`,
		"/web-app/config/connectionStrings.config": "Server=db;Password=hush",
	} {
		resp, err := http.Get("http://" + ep + "/file?path=" + url.QueryEscape(path))
		if err != nil {
			t.Fatal(err)
		}
		var info map[string]any
		json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		if info["content"] != want {
			t.Errorf("%s in the container: %v, want content %q", path, info, want)
		}
	}

	// Sticky sessions through the ingress: 20 form round trips succeed.
	waitTasks(t, ctx, c, "signup_homepage", "the homepage", nRunning(1))
	for i := 0; i < 20; i++ {
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar}
		ok, _ := pair(t, hc, base)
		if !ok {
			t.Fatalf("form pair %d failed through the ingress", i)
		}
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "signup_homepage") {
		t.Errorf("/ should reach the homepage: %s", body)
	}
}

// The seed's signup-v2.yml and signup-v3.yml deploy unchanged once their
// external networks, configs and secrets exist: Windows services wait with
// the reason, and v3 updates only the services it changes.
func TestSeedStackFilesDeployUnchanged(t *testing.T) {
	d, c := devCluster(t)
	ctx := ctxTimeout(t, 120*time.Second)
	for _, n := range []string{"signup-net", "frontend-net", "backend-net"} {
		if _, err := c.NetworkCreate(ctx, api.NetworkSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"signup-web-appsettings", "signup-web-log4net", "reference-data-config"} {
		if _, err := c.ConfigCreate(ctx, api.ConfigSpec{Name: n, Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"signup-db-password", "signup-web-connectionstrings", "save-handler-connectionstrings", "reference-data-secret"} {
		if _, err := c.SecretCreate(ctx, api.SecretSpec{Name: n, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	seed := func(name string) string { return filepath.Join("..", "..", "internal", "compose", "testdata", name) }
	out, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", seed("signup-v2.yml"), "signup")
	if code != 0 {
		t.Fatalf("deploy v2: exit %d\n%s\n%s", code, out, errOut)
	}
	web, err := c.ServiceInspect(ctx, "signup_signup-web")
	if err != nil {
		t.Fatal(err)
	}
	if web.Spec.Mode.Replicas() != 2 || web.Spec.Labels["traefik.http.services.signup-web.loadbalancer.sticky.cookie"] != "true" ||
		web.Spec.TaskTemplate.Placement.Constraints[0] != "node.platform.os == windows" {
		t.Errorf("signup-web spec: %+v", web.Spec)
	}
	tasks := waitTasks(t, ctx, c, "signup_signup-web", "the windows tasks pending with a reason", func(ts []*api.Task) bool {
		return len(ts) == 2 && ts[0].Status.Err != "" && ts[1].Status.Err != ""
	})
	if e := tasks[0].Status.Err; e != "no suitable node (unsupported platform on 1 node)" {
		t.Errorf("pending reason %q", e)
	}

	out, _, code = shoal(t, d, "stack", "deploy", "-d", "-c", seed("signup-v3.yml"), "signup")
	if code != 0 {
		t.Fatalf("deploy v3: exit %d\n%s", code, out)
	}
	for _, unchanged := range []string{"signup_signup-db", "signup_save-handler"} {
		if strings.Contains(out, "Updating service "+unchanged) {
			t.Errorf("v3 updated %s, which it does not change:\n%s", unchanged, out)
		}
	}
	web, _ = c.ServiceInspect(ctx, "signup_signup-web")
	u := web.Spec.UpdateConfig
	hc := web.Spec.TaskTemplate.ContainerSpec.Healthcheck
	if u == nil || u.Order != "start-first" || u.Monitor.D() != 10*time.Second || u.FailureAction != "rollback" {
		t.Errorf("v3 update config %+v", u)
	}
	if hc == nil || hc.Interval.D() != 10*time.Second || *hc.Retries != 2 || hc.StartPeriod.D() != 40*time.Second {
		t.Errorf("v3 healthcheck %+v", hc)
	}
}
