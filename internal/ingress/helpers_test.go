package ingress_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait of the tests so a bug fails a test instead
// of hanging it; it is never a timing assertion.
const testTimeout = 10 * time.Second

// quietLog discards log output (tests assert on behaviour, not logs).
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// echo is what a test backend answers: who it is and what it received.
type echo struct {
	Backend string
	Method  string
	Host    string
	Path    string
	Body    string
	Header  http.Header
}

// backend is a real HTTP server standing for one task.
type backend struct {
	name string
	srv  *http.Server
	ln   net.Listener
	hits atomic.Int64
	// healthy drives /health: 200 when true, 500 otherwise.
	healthy atomic.Bool
	done    chan struct{}
}

// startBackend serves the echo handler, or h when not nil, on a fresh
// local port. It is shut down at the end of the test.
func startBackend(t testing.TB, name string, h http.Handler) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln, done: make(chan struct{})}
	b.healthy.Store(true)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if !b.healthy.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	app := h
	if app == nil {
		app = echoAs(name)
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Backend", name)
		app.ServeHTTP(w, r)
	}))
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: testTimeout}
	go func() {
		defer close(b.done)
		_ = b.srv.Serve(ln)
	}()
	t.Cleanup(b.stop)
	return b
}

// echoAs answers with an echo of the request, signed name.
func echoAs(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{
			Backend: name, Method: r.Method, Host: r.Host, Path: r.URL.Path, Body: string(body), Header: r.Header,
		})
	}
}

func (b *backend) addr() string { return b.ln.Addr().String() }

// stop shuts the server down gracefully: requests in flight finish.
func (b *backend) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
	<-b.done
}

// refusedAddr returns an address that was listening and is now closed:
// connecting to it is refused.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// labels builds a label map from "key=value" strings.
func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

func service(id, name string, lbl map[string]string) *api.Service {
	return &api.Service{ID: id, Spec: api.ServiceSpec{Name: name, Labels: lbl}, SpecVersion: 1}
}

// webLabels are the seed story's signup-web labels on port 80 → here the
// target port 80 maps to each test backend's real address.
func webLabels(extra ...string) map[string]string {
	return labels(append([]string{
		"traefik.enable=true",
		"traefik.http.routers.web.rule=PathPrefix(`/`)",
		"traefik.http.services.signup-web.loadbalancer.server.port=80",
	}, extra...)...)
}

var taskVersion atomic.Uint64

// task is a running task of serviceID whose target port 80 is served by
// addr.
func task(id, serviceID, addr string) *api.Task {
	return &api.Task{
		ID: id, ServiceID: serviceID, ServiceName: "svc",
		Meta:         api.Meta{Version: taskVersion.Add(1)},
		DesiredState: api.TaskStateRunning,
		Status:       api.TaskStatus{State: api.TaskStateRunning},
		Endpoints:    []api.TaskEndpoint{{TargetPort: 80, Addr: addr}},
	}
}

// with returns a copy of tk changed by f, with a newer version.
func with(tk *api.Task, f func(*api.Task)) *api.Task {
	c := *tk
	c.Meta.Version = taskVersion.Add(1)
	f(&c)
	return &c
}

func taskEvent(action string, tk *api.Task) api.Event {
	return api.Event{Type: api.EventTask, Action: action, ID: tk.ID, Task: tk}
}

func serviceEvent(action string, s *api.Service) api.Event {
	return api.Event{Type: api.EventService, Action: action, ID: s.ID, Service: s}
}

// env is a proxy serving on a real listener, with its table.
type env struct {
	t     testing.TB
	table *ingress.Table
	proxy *ingress.Proxy
	url   string
	addr  string
}

func newEnv(t testing.TB, topts ingress.TableOptions, popts ingress.Options) *env {
	t.Helper()
	if topts.Logger == nil {
		topts.Logger = quietLog
	}
	if popts.ErrorLog == nil {
		popts.ErrorLog = quietLog
	}
	table := ingress.NewTable(topts)
	proxy := ingress.NewProxy(table, popts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- proxy.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := proxy.Shutdown(ctx); err != nil {
			t.Errorf("proxy shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		table.Close()
	})
	return &env{t: t, table: table, proxy: proxy, url: "http://" + ln.Addr().String(), addr: ln.Addr().String()}
}

// client returns an HTTP client of the proxy whose connections are closed
// at the end of the test.
func (e *env) client() *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// result is one response, read whole.
type result struct {
	status int
	body   string
	header http.Header
	echo   echo
}

func (e *env) do(c *http.Client, method, path, body string, hdr ...string) result {
	e.t.Helper()
	r, err := e.doErr(c, method, path, body, hdr...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// doErr is do for goroutines other than the test's, which must not call
// t.Fatal.
func (e *env) doErr(c *http.Client, method, path, body string, hdr ...string) (result, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return result{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	r := result{status: resp.StatusCode, body: string(b), header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.echo); err != nil {
			return result{}, fmt.Errorf("%s %s: echo body %q: %w", method, path, b, err)
		}
	}
	return r, nil
}

func (e *env) get(path string, hdr ...string) result {
	e.t.Helper()
	return e.do(e.client(), http.MethodGet, path, "", hdr...)
}

// waitFor polls cond until it holds, failing the test after testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// counter counts occurrences of strings, safely.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counter) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[s]++
}

func (c *counter) get(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[s]
}
