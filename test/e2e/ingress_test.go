package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/ingress"
)

// signupWeb is the seed story's signup-web service as a process service:
// the test app holds anti-forgery tokens in memory, behind the ingress by
// its Traefik labels, with a health check.
func signupWeb(replicas uint64, sticky bool) api.ServiceSpec {
	spec := processSpec("signup_signup-web", replicas, testApp)
	spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}}
	spec.Labels = map[string]string{
		"traefik.enable":                "true",
		"traefik.http.routers.web.rule": "PathPrefix(`/app/`)",
		"traefik.http.services.signup-web.loadbalancer.server.port": "80",
	}
	if sticky {
		spec.Labels["traefik.http.services.signup-web.loadbalancer.sticky.cookie"] = "true"
	}
	spec.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{
		Test:     []string{"CMD", testApp, "health"},
		Interval: api.DurationPtr(100 * time.Millisecond),
		Retries:  u64p(3),
	}
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Delay: api.DurationPtr(0)}
	return spec
}

func trafficCluster(t *testing.T) (*daemon.Dev, *client.Client, string) {
	d, c := devClusterWith(t, daemon.DevConfig{IngressAddr: "127.0.0.1:0", DrainDelay: 300 * time.Millisecond})
	return d, c, "http://" + d.IngressAddr()
}

// pair renders the form and posts it back, as a browser would: it reports
// whether the POST was accepted and which instance saved it.
func pair(t *testing.T, hc *http.Client, base string) (bool, string) {
	t.Helper()
	resp, err := hc.Get(base + "/app/form")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %s %s", resp.Status, body)
	}
	tok := strings.TrimPrefix(strings.Fields(string(body))[0], "token=")
	resp, err = hc.PostForm(base+"/app/form", url.Values{"token": {tok}})
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, strings.TrimSpace(strings.TrimPrefix(string(body), "saved by instance="))
}

func freshClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: &http.Transport{DisableKeepAlives: true}}
}

// The seed scenario: without sticky sessions, form posts land on the other
// replica and fail; with the sticky label, 100 of 100 succeed, both
// replicas serve sessions, the cookie has Traefik's default name, and a
// session whose replica dies moves to the other one without a failure.
func TestSeedStickySessions(t *testing.T) {
	_, c, base := trafficCluster(t)
	ctx := ctxTimeout(t, 120*time.Second)
	if _, err := c.ServiceCreate(ctx, signupWeb(2, false)); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, "signup_signup-web", "2 healthy replicas", nRunning(2))

	failed := 0
	for i := 0; i < 20; i++ {
		if ok, _ := pair(t, freshClient(), base); !ok {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("without sticky sessions every form post still landed on its replica: the balancer is not spreading requests")
	}

	cur, _ := c.ServiceInspect(ctx, "signup_signup-web")
	if _, err := c.ServiceUpdate(ctx, cur.ID, 0, signupWeb(2, true)); err != nil {
		t.Fatal(err)
	}
	// The label change applies at once, without replacing tasks.
	instances := map[string]int{}
	var cookieName string
	for i := 0; i < 100; i++ {
		hc := freshClient()
		ok, inst := pair(t, hc, base)
		if !ok {
			t.Fatalf("pair %d failed with sticky sessions", i)
		}
		instances[inst]++
		u, _ := url.Parse(base)
		for _, ck := range hc.Jar.Cookies(u) {
			cookieName = ck.Name
		}
	}
	if len(instances) != 2 {
		t.Errorf("sessions went to %d replicas, want both: %v", len(instances), instances)
	}
	if want := ingress.DefaultCookieName(ingress.QualifiedName("signup-web")); cookieName != want || want != "_461b3" {
		t.Errorf("cookie name %q, want Traefik's default %q (_461b3)", cookieName, want)
	}

	// Kill the replica a session is stuck to.
	hc := freshClient()
	_, stuck := pair(t, hc, base)
	tasks, _ := c.TaskList(ctx, client.TaskFilter{Service: "signup_signup-web"})
	var victim *api.Task
	for _, tk := range running(tasks) {
		resp, err := http.Get("http://" + tk.Endpoints[0].Addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), stuck) {
			victim = tk
		}
	}
	if victim == nil {
		t.Fatalf("no task serves instance %s", stuck)
	}
	if err := syscall.Kill(pidOf(t, victim), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ok, moved := pair(t, hc, base)
	if !ok {
		t.Fatal("the first session after its replica died failed")
	}
	if moved == stuck {
		t.Fatal("the session still went to the dead replica")
	}
}

// load sends GET requests through the ingress from several clients until
// stop closes, and counts them.
func load(base string, stop <-chan struct{}) (total, failed *atomic.Int64, done *sync.WaitGroup, errs *errList) {
	total, failed, done, errs = new(atomic.Int64), new(atomic.Int64), new(sync.WaitGroup), &errList{}
	for w := 0; w < 4; w++ {
		done.Add(1)
		go func() {
			defer done.Done()
			hc := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				resp, err := hc.Get(base + "/app/form")
				if err != nil {
					failed.Add(1)
					errs.add(err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					errs.add(resp.Status)
				}
			}
		}()
	}
	return
}

type errList struct {
	mu   sync.Mutex
	list []string
}

func (e *errList) add(s string) {
	e.mu.Lock()
	if len(e.list) < 5 {
		e.list = append(e.list, s)
	}
	e.mu.Unlock()
}

// Under steady load, a start-first update of both replicas, a scale up and
// down, and a killed replica lose no request.
func TestZeroDowntimeUnderChurn(t *testing.T) {
	_, c, base := trafficCluster(t)
	ctx := ctxTimeout(t, 180*time.Second)
	spec := signupWeb(2, false)
	spec.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Order: api.UpdateOrderStartFirst, Monitor: api.Duration(300 * time.Millisecond), FailureAction: api.FailureActionRollback}
	svc, _ := createRunning(t, ctx, c, spec)

	stop := make(chan struct{})
	total, failed, done, errs := load(base, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		done.Wait()
	}()

	started := time.Now()
	spec.TaskTemplate.ContainerSpec.Env = []string{"RELEASE=2"}
	updateService(t, ctx, c, svc.ID, spec)
	waitService(t, ctx, c, spec.Name, "the update to complete", updateCompleted(2))
	updateTook := time.Since(started)

	spec.Mode = replicated(4)
	updateService(t, ctx, c, svc.ID, spec)
	waitTasks(t, ctx, c, spec.Name, "4 replicas", nRunning(4))
	spec.Mode = replicated(2)
	updateService(t, ctx, c, svc.ID, spec)
	tasks := waitTasks(t, ctx, c, spec.Name, "2 replicas", func(ts []*api.Task) bool { return nRunning(2)(ts) && len(live(ts)) == 2 })

	// A replica dies under load: its requests go to the other one.
	victim := running(tasks)[0]
	if err := syscall.Kill(pidOf(t, victim), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, spec.Name, "the killed replica replaced", func(ts []*api.Task) bool {
		if !nRunning(2)(ts) {
			return false
		}
		for _, tk := range running(ts) {
			if tk.ID == victim.ID {
				return false
			}
		}
		return true
	})

	close(stop)
	done.Wait()
	t.Logf("requests: %d, failed: %d; start-first update of 2 replicas took %v", total.Load(), failed.Load(), updateTook.Round(time.Millisecond))
	fmt.Printf("ZERO-DOWNTIME: requests=%d failed=%d update=%v\n", total.Load(), failed.Load(), updateTook.Round(time.Millisecond))
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during churn: %v", failed.Load(), total.Load(), errs.list)
	}
	if total.Load() < 100 {
		t.Fatalf("only %d requests were sent: the load did not run", total.Load())
	}
}

func TestNoBackendIs503NamingTheService(t *testing.T) {
	_, c, base := trafficCluster(t)
	ctx := ctxTimeout(t, 60*time.Second)
	if _, err := c.ServiceCreate(ctx, signupWeb(0, false)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/app/form")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "signup") {
		t.Fatalf("got %s %q, want 503 naming the service", resp.Status, b)
	}
}

func TestBadRuleLabelIsRefusedAtDeploy(t *testing.T) {
	_, c, _ := trafficCluster(t)
	ctx := context.Background()
	spec := signupWeb(1, false)
	spec.Labels["traefik.http.routers.web.rule"] = "PathPrefix(`/app/`"
	_, err := c.ServiceCreate(ctx, spec)
	if err == nil || !strings.Contains(err.Error(), "traefik.http.routers.web.rule") {
		t.Fatalf("create with a broken rule: %v, want an error naming the label", err)
	}
}
