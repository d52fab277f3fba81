package ingress_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

func TestNoRouterIs404(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "api", labels(
		"traefik.http.routers.api.rule=Host(`api.example.com`)",
		"traefik.http.services.api.loadbalancer.server.port=80",
	))}, []*api.Task{task("t1", "s1", b.addr())})
	r := e.get("/", "Host", "www.example.com")
	if r.status != http.StatusNotFound || r.body != "404 page not found\n" {
		t.Fatalf("got %d %q, want 404", r.status, r.body)
	}
	if r := e.get("/", "Host", "API.example.com"); r.status != http.StatusOK || r.echo.Backend != "a" {
		t.Fatalf("got %d from %q, want 200 from a", r.status, r.echo.Backend)
	}
	if n := e.proxy.Stats().Unrouted; n != 1 {
		t.Errorf("Unrouted = %d, want 1", n)
	}
}

func TestNoBackendIs503NamingTheService(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	e.table.Reset([]*api.Service{service("s1", "signup_web", webLabels())}, nil)
	r := e.get("/app/")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", r.status)
	}
	if !strings.Contains(r.body, "signup_web") || len(r.body) > 100 {
		t.Errorf("body = %q, want a short message naming signup_web", r.body)
	}
	waitFor(t, "the 503 to be counted", func() bool { return e.proxy.Stats().Services["signup_web/signup-web"].ByClass["5xx"] == 1 })
	if st := e.proxy.Stats().Services["signup_web/signup-web"]; st.NoBackend != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBalancesAcrossBackends(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())},
		[]*api.Task{task("t1", "s1", a.addr()), task("t2", "s1", b.addr())})
	c := e.client()
	var seen counter
	for i := 0; i < 20; i++ {
		r := e.do(c, "GET", "/", "")
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		seen.add(r.echo.Backend)
	}
	// Sequential requests leave no request outstanding, so the
	// round-robin tie-break alternates.
	if seen.get("a") != 10 || seen.get("b") != 10 {
		t.Errorf("a got %d, b got %d; want 10 each", seen.get("a"), seen.get("b"))
	}
}

func TestLeastOutstandingAvoidsBusyBackend(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	release := make(chan struct{})
	entered := make(chan string, 2)
	blocking := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/block" {
				entered <- name
				<-release
			}
			_, _ = io.WriteString(w, name)
		})
	}
	a, b := startBackend(t, "a", blocking("a")), startBackend(t, "b", blocking("b"))
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())},
		[]*api.Task{task("t1", "s1", a.addr()), task("t2", "s1", b.addr())})
	c := e.client()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := e.doErr(c, "GET", "/block", ""); err != nil {
			t.Error(err)
		}
	}()
	busy := <-entered
	for i := 0; i < 10; i++ {
		if got := e.do(c, "GET", "/", "").header.Get("X-Backend"); got == busy {
			t.Errorf("request %d went to %s, which has a request outstanding", i, busy)
		}
	}
	close(release)
	wg.Wait()
}

func TestOnlyHealthyRunningTasksGetTraffic(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	svc := service("s1", "web", webLabels())
	ta := with(task("ta", "s1", a.addr()), func(t *api.Task) { t.Status.Health = api.HealthStarting })
	tb := with(task("tb", "s1", b.addr()), func(t *api.Task) { t.Status.State = api.TaskStateStarting })
	e.table.Apply(serviceEvent(api.ActionCreate, svc), taskEvent(api.ActionCreate, ta), taskEvent(api.ActionCreate, tb))

	if r := e.get("/"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("health starting / state starting: status %d, want 503", r.status)
	}

	ta = with(ta, func(t *api.Task) { t.Status.Health = api.HealthHealthy })
	e.table.Apply(taskEvent(api.ActionUpdate, ta))
	for i := 0; i < 4; i++ {
		if r := e.get("/"); r.status != http.StatusOK || r.echo.Backend != "a" {
			t.Fatalf("after healthy: %d from %q, want 200 from a", r.status, r.echo.Backend)
		}
	}

	tb = with(tb, func(t *api.Task) { t.Status.State = api.TaskStateRunning })
	e.table.Apply(taskEvent(api.ActionUpdate, tb))
	waitFor(t, "b to get traffic", func() bool { return e.get("/").echo.Backend == "b" })

	// Desired shutdown arrives before the agent stops the task: the task
	// is still running, but it is out of the pool at once.
	ta = with(ta, func(t *api.Task) { t.DesiredState = api.TaskStateShutdown })
	e.table.Apply(taskEvent(api.ActionUpdate, ta))
	hitsA := a.hits.Load()
	for i := 0; i < 10; i++ {
		if r := e.get("/"); r.echo.Backend != "b" {
			t.Fatalf("request %d after desired shutdown went to %q", i, r.echo.Backend)
		}
	}
	if a.hits.Load() != hitsA {
		t.Errorf("a got requests after its desired shutdown")
	}

	// unhealthy and failed tasks take none either.
	tb = with(tb, func(t *api.Task) { t.Status.Health = api.HealthUnhealthy })
	e.table.Apply(taskEvent(api.ActionUpdate, tb))
	if r := e.get("/"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("unhealthy: status %d, want 503", r.status)
	}
}

func TestTaskOnOtherPortIsNoBackend(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a := startBackend(t, "a", nil)
	tk := task("t1", "s1", a.addr())
	tk.Endpoints = []api.TaskEndpoint{{TargetPort: 8080, Addr: a.addr()}}
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{tk})
	if r := e.get("/"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d: a task without an endpoint for server.port must get no traffic", r.status)
	}
}

func TestPriorityOrdering(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	home, api1, admin, low := startBackend(t, "home", nil), startBackend(t, "api", nil), startBackend(t, "admin", nil), startBackend(t, "low", nil)
	tie1, tie2 := startBackend(t, "tie-a", nil), startBackend(t, "tie-b", nil)
	svcs := []*api.Service{
		service("s1", "home", labels("traefik.http.routers.home.rule=PathPrefix(`/`)",
			"traefik.http.services.home.loadbalancer.server.port=80")),
		// Longer rule, higher default priority.
		service("s2", "api", labels("traefik.http.routers.api.rule=PathPrefix(`/api/`)",
			"traefik.http.services.api.loadbalancer.server.port=80")),
		// An explicit priority beats a longer rule, both ways.
		service("s3", "admin", labels("traefik.http.routers.admin.rule=PathPrefix(`/adm`)",
			"traefik.http.routers.admin.priority=1000",
			"traefik.http.services.admin.loadbalancer.server.port=80")),
		service("s6", "low", labels("traefik.http.routers.low.rule=PathPrefix(`/api/`) && !Path(`/nothing`)",
			"traefik.http.routers.low.priority=1",
			"traefik.http.services.low.loadbalancer.server.port=80")),
		// Equal priorities: the longer rule first, then the name.
		service("s4", "tie-b", labels("traefik.http.routers.r.rule=PathPrefix(`/t`)",
			"traefik.http.routers.r.priority=500",
			"traefik.http.services.s.loadbalancer.server.port=80")),
		service("s5", "tie-a", labels("traefik.http.routers.r.rule=PathPrefix(`/t`)",
			"traefik.http.routers.r.priority=500",
			"traefik.http.services.s.loadbalancer.server.port=80")),
	}
	e.table.Reset(svcs, []*api.Task{
		task("t1", "s1", home.addr()), task("t2", "s2", api1.addr()), task("t3", "s3", admin.addr()),
		task("t4", "s4", tie2.addr()), task("t5", "s5", tie1.addr()), task("t6", "s6", low.addr()),
	})
	for path, want := range map[string]string{
		"/":          "home",
		"/bpix":      "home",
		"/api/users": "api",
		"/api/x":     "api", // low's longer rule has priority 1
		"/admin":     "admin",
		"/t":         "tie-a",
	} {
		if r := e.get(path); r.echo.Backend != want {
			t.Errorf("%s went to %q, want %q", path, r.echo.Backend, want)
		}
	}
	var order []string
	for _, r := range e.table.Routes() {
		order = append(order, r.Service)
	}
	want := []string{"admin", "tie-a", "tie-b", "api", "home", "low"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("route order = %v, want %v", order, want)
	}
}

func TestForwardedHeadersAndHost(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{
		service("s1", "web", webLabels()),
		service("s2", "nohost", labels(
			"traefik.http.routers.r.rule=PathPrefix(`/nohost`)",
			"traefik.http.services.s.loadbalancer.server.port=80",
			"traefik.http.services.s.loadbalancer.passhostheader=false")),
	}, []*api.Task{task("t1", "s1", a.addr()), task("t2", "s2", a.addr())})

	r := e.get("/p?q=1", "Host", "shop.example.com:8443", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Proto", "https", "X-Real-Ip", "6.6.6.6")
	h := r.echo.Header
	if r.echo.Host != "shop.example.com:8443" {
		t.Errorf("Host = %q, want the client's (passHostHeader default true)", r.echo.Host)
	}
	for k, want := range map[string]string{
		"X-Forwarded-For":   "127.0.0.1", // an untrusted client's value is replaced
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "shop.example.com:8443",
		"X-Forwarded-Port":  "8443",
		"X-Real-Ip":         "127.0.0.1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(h.Values("X-Forwarded-For")) != 1 {
		t.Errorf("X-Forwarded-For = %q", h.Values("X-Forwarded-For"))
	}

	if r := e.get("/nohost", "Host", "shop.example.com"); r.echo.Host != a.addr() {
		t.Errorf("passhostheader=false: Host = %q, want the backend address %q", r.echo.Host, a.addr())
	}
	if r := e.get("/", "Host", "shop.example.com"); r.echo.Header.Get("X-Forwarded-Port") != "80" {
		t.Errorf("X-Forwarded-Port without a port = %q, want 80", r.echo.Header.Get("X-Forwarded-Port"))
	}
}

func TestForwardedHeadersFromTrustedProxy(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})
	r := e.get("/", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "front.example.com", "X-Forwarded-Port", "443")
	h := r.echo.Header
	if got := h.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the trusted value appended to", got)
	}
	if h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-Host") != "front.example.com" || h.Get("X-Forwarded-Port") != "443" {
		t.Errorf("forwarded = %q %q %q", h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Port"))
	}
}

func TestStreamingIsFlushedBeforeCompletion(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	finish := make(chan struct{})
	a := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-finish
		_, _ = io.WriteString(w, "data: last\n\n")
	}))
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})
	resp, err := e.client().Get(e.url + "/events")
	if err != nil {
		close(finish)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		close(finish)
		t.Fatalf("first line = %q, %v; the proxy must flush it while the backend is still writing", line, err)
	}
	close(finish)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: last\n\n" {
		t.Errorf("rest = %q", rest)
	}
}

func TestWebSocketUpgradePassesThrough(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		proto := r.Header.Get("X-Forwarded-Proto")
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Proto: "+proto+"\r\n\r\n")
		_ = brw.Flush()
		// Echo lines until the client closes.
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = io.WriteString(brw, "echo: "+line)
			_ = brw.Flush()
		}
	}))
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})

	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, br := wsUpgrade(t, conn)
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	if resp.Header.Get("X-Proto") != "ws" {
		t.Errorf("X-Forwarded-Proto of a websocket = %q, want ws", resp.Header.Get("X-Proto"))
	}
	for _, msg := range []string{"hello\n", "world\n"} {
		_, _ = io.WriteString(conn, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != "echo: "+msg {
			t.Fatalf("echo = %q, %v", got, err)
		}
	}
}

func TestMaxBodyBytes(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{MaxBodyBytes: 10})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})
	c := e.client()
	if r := e.do(c, "POST", "/", "0123456789"); r.status != http.StatusOK || r.echo.Body != "0123456789" {
		t.Fatalf("10 bytes: %d %q", r.status, r.echo.Body)
	}
	if r := e.do(c, "POST", "/", "0123456789X"); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("11 bytes with Content-Length: %d, want 413", r.status)
	}
	// Without Content-Length (chunked), the limit applies while reading.
	req, _ := http.NewRequest("POST", e.url+"/", io.MultiReader(strings.NewReader("01234567"), strings.NewReader("89ABCDEF")))
	req.ContentLength = -1
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge && resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("chunked 16 bytes: %d, want 413", resp.StatusCode)
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{MaxHeaderBytes: 1024})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})
	if r := e.get("/", "X-Big", strings.Repeat("x", 8192)); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", r.status)
	}
}

func TestAccessLogAndStats(t *testing.T) {
	var buf testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{AccessLog: log})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})
	for i := 0; i < 3; i++ {
		e.get("/x?i=" + itoa(i))
	}
	// The proxy logs and counts a request once it has answered it, which
	// the client may see first.
	waitFor(t, "3 access log lines", func() bool { return strings.Count(buf.String(), "msg=request") == 3 })
	out := buf.String()
	for _, want := range []string{"msg=request", "method=GET", `uri="/x?i=2"`, "status=200", "router=web/web", "service=web/signup-web", "task=t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %q:\n%s", want, out)
		}
	}
	st := e.proxy.Stats()
	if r := st.Routers["web/web"]; r.Requests != 3 || r.ByClass["2xx"] != 3 || r.Latency.Count != 3 {
		t.Errorf("router stats = %+v", r)
	}
	if s := st.Services["web/signup-web"]; s.Requests != 3 || s.Latency.Count != 3 || s.Retries != 0 {
		t.Errorf("service stats = %+v", s)
	}
}

func TestAccessLogOffByDefault(t *testing.T) {
	var buf testutil.SyncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(prev)
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})
	e.get("/")
	if strings.Contains(buf.String(), "msg=request") {
		t.Errorf("access log written without AccessLog set:\n%s", buf.String())
	}
}

func TestEntryPoints(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{EntryPoint: "web"})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{
		service("s1", "secure", labels("traefik.http.routers.r.rule=PathPrefix(`/`)", "traefik.http.routers.r.entrypoints=websecure",
			"traefik.http.services.s.loadbalancer.server.port=80")),
		service("s2", "plain", labels("traefik.http.routers.r.rule=PathPrefix(`/p`)", "traefik.http.routers.r.entrypoints=Web",
			"traefik.http.services.s.loadbalancer.server.port=80")),
	}, []*api.Task{task("t1", "s1", a.addr()), task("t2", "s2", a.addr())})
	if r := e.get("/"); r.status != http.StatusNotFound {
		t.Errorf("router on websecure answered on web: %d", r.status)
	}
	if r := e.get("/p"); r.status != http.StatusOK {
		t.Errorf("router on web: %d", r.status)
	}
}

func TestH2C(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{H2C: true})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
}

// tlsProxy serves a proxy with opts on ServeTLS, routing to a test
// backend, until the end of the test. It borrows httptest's self-signed
// certificate, and returns the proxy's address and a client trusting it
// (HTTP/2 enabled).
func tlsProxy(t *testing.T, opts ingress.Options) (*ingress.Proxy, string, *http.Client) {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	certs := ts.TLS.Certificates
	client := ts.Client()
	ts.Close()
	t.Cleanup(client.CloseIdleConnections)

	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	opts.ErrorLog = quietLog
	p := ingress.NewProxy(table, opts)
	a := startBackend(t, "a", nil)
	table.Reset([]*api.Service{service("s1", "web", webLabels("traefik.http.routers.web.tls=true"))}, []*api.Task{task("t1", "s1", a.addr())})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.ServeTLS(ln, &tls.Config{Certificates: certs}) }()
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		<-done
		table.Close()
	})
	return p, ln.Addr().String(), client
}

func TestServeTLSOffersHTTP2(t *testing.T) {
	_, addr, client := tlsProxy(t, ingress.Options{})
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"X-Forwarded-Proto":["https"]`)) {
		t.Errorf("got %s %d %s", resp.Proto, resp.StatusCode, body)
	}
}

// wsUpgrade sends a WebSocket handshake for /ws on conn and reads the
// answer's head.
func wsUpgrade(t *testing.T, conn net.Conn) (*http.Response, *bufio.Reader) {
	t.Helper()
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, br
}
