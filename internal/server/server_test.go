package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/server"
)

// The tests share one dev cluster and put a second API, under test, on its
// manager. They run one at a time; each removes the services it creates and
// waits for their tasks to be gone.
var (
	testDev *daemon.Dev
	testAPI *server.Server
)

const waitTimeout = 90 * time.Second

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "shoal-server-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	startCtx, cancelStart := context.WithTimeout(context.Background(), waitTimeout)
	defer cancelStart()
	d, err := daemon.StartDev(startCtx, daemon.DevConfig{DataDir: dir, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start dev cluster:", err)
		return 1
	}
	testDev = d
	testAPI = server.New(d.Manager(), d.NodeID(), quiet)
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := removeAllServices(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
		code = 1
	}
	if err := d.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close dev cluster:", err)
		code = 1
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
		code = 1
	}
	return code
}

// call sends one request to the API under test and returns the status and
// body.
func call(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	ctx, cancel := context.WithTimeout(req.Context(), waitTimeout)
	defer cancel()
	rec := httptest.NewRecorder()
	testAPI.ServeHTTP(rec, req.WithContext(ctx))
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusNoContent && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return rec.Code, rec.Body.Bytes()
}

// callError sends a request that must fail with code and returns the
// error message.
func callError(t *testing.T, method, path, body string, code int) string {
	t.Helper()
	got, b := call(t, method, path, body)
	if got != code {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, code, b)
	}
	var e map[string]any
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s %s: error body is not JSON: %v: %s", method, path, err, b)
	}
	msg, ok := e["message"].(string)
	if !ok || msg == "" || len(e) != 1 {
		t.Fatalf("%s %s: error body %s, want {\"message\": ...}", method, path, b)
	}
	return msg
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sleepSpec(name string, replicas uint64) api.ServiceSpec {
	return api.ServiceSpec{
		Name:         name,
		Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "300"}}},
	}
}

// createService creates a service through the API under test.
func createService(t *testing.T, spec api.ServiceSpec) *api.Service {
	t.Helper()
	code, b := call(t, http.MethodPost, "/v1/services", mustJSON(spec))
	if code != http.StatusCreated {
		t.Fatalf("create %s: status %d: %s", spec.Name, code, b)
	}
	var svc api.Service
	if err := json.Unmarshal(b, &svc); err != nil {
		t.Fatal(err)
	}
	return &svc
}

func listServices(t *testing.T) []*api.Service {
	t.Helper()
	code, b := call(t, http.MethodGet, "/v1/services", "")
	if code != http.StatusOK {
		t.Fatalf("list services: status %d: %s", code, b)
	}
	var svcs []*api.Service
	if err := json.Unmarshal(b, &svcs); err != nil {
		t.Fatal(err)
	}
	return svcs
}

// checkNoServices checks that no service exists.
func checkNoServices(t *testing.T) {
	t.Helper()
	if svcs := listServices(t); len(svcs) != 0 {
		t.Errorf("a failed request created service %q", svcs[0].Spec.Name)
	}
}

// removeAllServices removes every service and waits, following the event
// stream, until every task is gone, so that no process outlives the tests.
func removeAllServices(ctx context.Context) error {
	c, err := client.New(testDev.Host())
	if err != nil {
		return err
	}
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if err := c.ServiceRemove(ctx, s.ID); err != nil && !client.IsNotFound(err) {
			return err
		}
	}
	done := errors.New("done")
	err = c.Events(ctx, client.EventFilter{}, func(api.Event) error {
		tasks, err := c.TaskList(ctx, client.TaskFilter{})
		if err != nil {
			return err
		}
		if len(tasks) == 0 {
			return done
		}
		return nil
	})
	if errors.Is(err, done) {
		return nil
	}
	return fmt.Errorf("wait for every task to be gone: %w", err)
}

func cleanupServices(t *testing.T) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := removeAllServices(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func TestMalformedBody(t *testing.T) {
	valid := mustJSON(sleepSpec("x", 1))
	for _, tc := range []struct{ name, body string }{
		{"truncated", `{"Name": "x",`},
		{"not an object", `[1, 2]`},
		{"not JSON", `Name=x`},
		{"empty", ``},
		{"wrong type", `{"Name": 42}`},
		{"two values", valid + ` {}`},
		{"trailing garbage", valid + ` garbage`},
		{"bad duration", `{"Name": "x", "Mode": {"Replicated": {"Replicas": 1}}, "TaskTemplate": {"ContainerSpec": {"Command": ["sleep", "300"], "StopGracePeriod": "soon"}}}`},
		{"bad replicas", `{"Name": "x", "Mode": {"Replicated": {"Replicas": -1}}, "TaskTemplate": {"ContainerSpec": {"Command": ["sleep", "300"]}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := callError(t, http.MethodPost, "/v1/services", tc.body, http.StatusBadRequest)
			if !strings.Contains(msg, "malformed JSON") {
				t.Errorf("message %q does not mention malformed JSON", msg)
			}
			if strings.HasPrefix(msg, "invalid request") {
				t.Errorf("message %q keeps the sentinel prefix", msg)
			}
			checkNoServices(t)
		})
	}
}

func TestUnknownField(t *testing.T) {
	body := `{"Name": "x", "Replicas": 3, "Mode": {"Replicated": {"Replicas": 1}}, "TaskTemplate": {"ContainerSpec": {"Command": ["sleep", "300"]}}}`
	msg := callError(t, http.MethodPost, "/v1/services", body, http.StatusBadRequest)
	if !strings.Contains(msg, `unknown field "Replicas"`) {
		t.Errorf("message %q does not name the unknown field", msg)
	}
	nested := `{"Name": "x", "Mode": {"Replicated": {"Replicas": 1}}, "TaskTemplate": {"ContainerSpec": {"Cmd": ["sleep", "300"]}}}`
	msg = callError(t, http.MethodPost, "/v1/services", nested, http.StatusBadRequest)
	if !strings.Contains(msg, `unknown field "Cmd"`) {
		t.Errorf("message %q does not name the unknown field", msg)
	}
	checkNoServices(t)
}

func TestInvalidSpec(t *testing.T) {
	neg := api.DurationPtr(-time.Second)
	spec := api.ServiceSpec{
		Name: "x",
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{StopGracePeriod: neg},
			RestartPolicy: &api.RestartPolicy{Condition: "sometimes", Delay: neg, Window: neg},
			Placement:     &api.Placement{Constraints: []string{"node.platform.os = linux"}},
		},
	}
	msg := callError(t, http.MethodPost, "/v1/services", mustJSON(spec), http.StatusBadRequest)
	for _, want := range []string{
		"no image and no command",
		`restart condition "sometimes"`,
		"restart delay -1s is negative",
		"restart window -1s is negative",
		"stop grace period -1s is negative",
		`constraint "node.platform.os = linux"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message does not say %q:\n%s", want, msg)
		}
	}
	if strings.HasPrefix(msg, "invalid request") {
		t.Errorf("message %q keeps the sentinel prefix", msg)
	}

	for _, tc := range []struct {
		name string
		spec api.ServiceSpec
		want string
	}{
		{"bad name", func() api.ServiceSpec { s := sleepSpec("bad name", 1); return s }(), `invalid service name "bad name"`},
		{"no name", sleepSpec("", 1), "service name is empty"},
		{"no mode", func() api.ServiceSpec { s := sleepSpec("x", 1); s.Mode = api.ServiceMode{}; return s }(), "mode: missing"},
		{"bad port", func() api.ServiceSpec {
			s := sleepSpec("x", 1)
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 0}}}
			return s
		}(), "target port must be 1-65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := callError(t, http.MethodPost, "/v1/services", mustJSON(tc.spec), http.StatusBadRequest)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not say %q", msg, tc.want)
			}
		})
	}
	checkNoServices(t)
}

func TestConflictsAndNotFound(t *testing.T) {
	cleanupServices(t)
	svc := createService(t, sleepSpec("dup", 1))
	if svc.ID == "" || svc.Spec.Name != "dup" || svc.Version == 0 || svc.SpecVersion != 1 {
		t.Fatalf("created service = %+v", svc)
	}

	t.Run("duplicate name", func(t *testing.T) {
		for _, name := range []string{"dup", "Dup"} {
			msg := callError(t, http.MethodPost, "/v1/services", mustJSON(sleepSpec(name, 1)), http.StatusConflict)
			if !strings.Contains(msg, "already exists") {
				t.Errorf("message %q does not say the service exists", msg)
			}
		}
		if n := len(listServices(t)); n != 1 {
			t.Errorf("%d services, want 1", n)
		}
	})

	t.Run("version conflict", func(t *testing.T) {
		spec := sleepSpec("dup", 2)
		path := fmt.Sprintf("/v1/services/%s/update?version=%d", svc.ID, svc.Version-1)
		msg := callError(t, http.MethodPost, path, mustJSON(spec), http.StatusConflict)
		if !strings.Contains(msg, "version") {
			t.Errorf("message %q does not say what conflicted", msg)
		}
		// With the current version the update goes through, and the old
		// version then conflicts.
		code, b := call(t, http.MethodPost, fmt.Sprintf("/v1/services/%s/update?version=%d", svc.ID, svc.Version), mustJSON(spec))
		if code != http.StatusOK {
			t.Fatalf("update at the current version: status %d: %s", code, b)
		}
		var updated api.Service
		if err := json.Unmarshal(b, &updated); err != nil {
			t.Fatal(err)
		}
		if updated.Version <= svc.Version || updated.Spec.Mode.Replicas() != 2 {
			t.Errorf("updated service = %+v", updated)
		}
		callError(t, http.MethodPost, fmt.Sprintf("/v1/services/%s/update?version=%d", svc.ID, svc.Version), mustJSON(sleepSpec("dup", 3)), http.StatusConflict)
		// No version: last writer wins.
		if code, b := call(t, http.MethodPost, "/v1/services/dup/update", mustJSON(sleepSpec("dup", 1))); code != http.StatusOK {
			t.Errorf("update without a version: status %d: %s", code, b)
		}
	})

	t.Run("bad update", func(t *testing.T) {
		msg := callError(t, http.MethodPost, "/v1/services/dup/update?version=abc", mustJSON(sleepSpec("dup", 1)), http.StatusBadRequest)
		if !strings.Contains(msg, "version") {
			t.Errorf("message %q does not name the version", msg)
		}
		msg = callError(t, http.MethodPost, "/v1/services/dup/update", mustJSON(sleepSpec("renamed", 1)), http.StatusBadRequest)
		if !strings.Contains(msg, "name cannot be changed") {
			t.Errorf("message %q", msg)
		}
		callError(t, http.MethodPost, "/v1/services/dup/update", `{"Name": `, http.StatusBadRequest)
		global := sleepSpec("dup", 0)
		global.Mode = api.ServiceMode{Global: &api.GlobalService{}}
		callError(t, http.MethodPost, "/v1/services/dup/update", mustJSON(global), http.StatusBadRequest)
	})

	t.Run("unknown service", func(t *testing.T) {
		for _, r := range []struct{ method, path, body string }{
			{http.MethodGet, "/v1/services/nope", ""},
			{http.MethodPost, "/v1/services/nope/update", mustJSON(sleepSpec("nope", 1))},
			{http.MethodDelete, "/v1/services/nope", ""},
			{http.MethodGet, "/v1/tasks?service=nope", ""},
			{http.MethodGet, "/v1/tasks/nope", ""},
			{http.MethodGet, "/v1/nodes/nope", ""},
			{http.MethodGet, "/v1/tasks?node=nope", ""},
			{http.MethodGet, "/v1/events?service=nope", ""},
		} {
			msg := callError(t, r.method, r.path, r.body, http.StatusNotFound)
			if !strings.Contains(msg, "nope") || !strings.Contains(msg, "not found") {
				t.Errorf("%s %s: message %q", r.method, r.path, msg)
			}
		}
	})

	t.Run("lookup by name, ID and prefix", func(t *testing.T) {
		for _, ref := range []string{"dup", "DUP", svc.ID, svc.ID[:6]} {
			code, b := call(t, http.MethodGet, "/v1/services/"+ref, "")
			var got api.Service
			if code != http.StatusOK || json.Unmarshal(b, &got) != nil || got.ID != svc.ID {
				t.Errorf("GET /v1/services/%s: status %d: %s", ref, code, b)
			}
		}
	})

	t.Run("bad task filter", func(t *testing.T) {
		msg := callError(t, http.MethodGet, "/v1/tasks?desired-state=sleepy", "", http.StatusBadRequest)
		if !strings.Contains(msg, "sleepy") {
			t.Errorf("message %q", msg)
		}
	})

	t.Run("remove", func(t *testing.T) {
		code, b := call(t, http.MethodDelete, "/v1/services/dup", "")
		if code != http.StatusNoContent || len(b) != 0 {
			t.Errorf("DELETE: status %d: %s", code, b)
		}
		callError(t, http.MethodDelete, "/v1/services/dup", "", http.StatusNotFound)
		callError(t, http.MethodGet, "/v1/services/"+svc.ID, "", http.StatusNotFound)
	})
}

func TestUnknownEndpoint(t *testing.T) {
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/v1/nope"},
		{http.MethodGet, "/"},
		{http.MethodGet, "/v2/services"},
		{http.MethodPut, "/v1/services"},
		{http.MethodPost, "/v1/tasks"},
	} {
		msg := callError(t, r.method, r.path, "", http.StatusNotFound)
		if want := "no such API endpoint: " + r.method + " " + r.path; msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}
	}
}

func TestInfoAndNodes(t *testing.T) {
	code, b := call(t, http.MethodGet, "/v1/info", "")
	var info api.Info
	if code != http.StatusOK || json.Unmarshal(b, &info) != nil {
		t.Fatalf("GET /v1/info: status %d: %s", code, b)
	}
	if info.NodeID != testDev.NodeID() || !info.IsLeader || info.Version != server.Version {
		t.Errorf("info = %+v", info)
	}
	code, b = call(t, http.MethodGet, "/v1/nodes", "")
	var nodes []api.Node
	if code != http.StatusOK || json.Unmarshal(b, &nodes) != nil || len(nodes) != 1 || nodes[0].ID != testDev.NodeID() {
		t.Errorf("GET /v1/nodes: status %d: %s", code, b)
	}
	code, b = call(t, http.MethodGet, "/v1/nodes/self", "")
	var self api.Node
	if code != http.StatusOK || json.Unmarshal(b, &self) != nil || self.ID != testDev.NodeID() {
		t.Errorf("GET /v1/nodes/self: status %d: %s", code, b)
	}
	// Empty lists are [] rather than null.
	for _, path := range []string{"/v1/services", "/v1/tasks", "/v1/tasks?node=self"} {
		if code, b := call(t, http.MethodGet, path, ""); code != http.StatusOK || strings.TrimSpace(string(b)) != "[]" {
			t.Errorf("GET %s with nothing to list: status %d: %s", path, code, b)
		}
	}
}

// eventStream reads the JSON lines of GET /v1/events from a live server.
type eventStream struct {
	t      *testing.T
	cancel context.CancelFunc
	sc     *bufio.Scanner
	body   io.Closer
}

func openEvents(t *testing.T, srv *httptest.Server, query string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/events"+query, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET /v1/events%s: status %d: %s", query, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("events Content-Type %q", ct)
	}
	s := &eventStream{t: t, cancel: cancel, sc: bufio.NewScanner(resp.Body), body: resp.Body}
	s.sc.Buffer(make([]byte, 64<<10), 16<<20)
	t.Cleanup(s.close)
	return s
}

func (s *eventStream) close() {
	s.cancel()
	s.body.Close()
}

// next returns the next event; each line must hold exactly one event.
func (s *eventStream) next() api.Event {
	s.t.Helper()
	if !s.sc.Scan() {
		s.t.Fatalf("event stream ended: %v", s.sc.Err())
	}
	line := s.sc.Bytes()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var ev api.Event
	if err := dec.Decode(&ev); err != nil || dec.More() {
		s.t.Fatalf("event line %q: %v", line, err)
	}
	return ev
}

// until reads events until stop returns true, returning all it read.
func (s *eventStream) until(stop func(api.Event) bool) []api.Event {
	s.t.Helper()
	var evs []api.Event
	for {
		ev := s.next()
		evs = append(evs, ev)
		if stop(ev) {
			return evs
		}
	}
}

func TestEvents(t *testing.T) {
	cleanupServices(t)
	srv := httptest.NewServer(testAPI)
	// Cleanups run last first: the streams close before the server, which
	// waits for its requests to end.
	t.Cleanup(srv.Close)

	all := openEvents(t, srv, "")
	services := openEvents(t, srv, "?type=service")
	sync := all.next()
	if sync.Type != "sync" || sync.Index == 0 || sync.ID != "" {
		t.Fatalf("first event = %+v, want a sync with the start index", sync)
	}
	if ev := services.next(); ev.Type != "sync" {
		t.Fatalf("first event of ?type=service = %+v, want sync", ev)
	}

	svc := createService(t, sleepSpec("ev", 1))
	var taskID string
	evs := all.until(func(ev api.Event) bool {
		if ev.Type == api.EventTask && ev.Task != nil && ev.Task.ServiceID == svc.ID && ev.Task.Status.State == api.TaskStateRunning {
			taskID = ev.ID
			return true
		}
		return false
	})
	last := sync.Index
	sawCreate, sawTaskCreate := false, false
	for _, ev := range evs {
		if ev.Index < last {
			t.Errorf("event index went back from %d to %d: %+v", last, ev.Index, ev)
		}
		last = ev.Index
		switch {
		case ev.Type == api.EventService && ev.Action == api.ActionCreate:
			sawCreate = ev.ID == svc.ID && ev.Service != nil && ev.Service.Spec.Name == "ev" && ev.Index == svc.Version
		case ev.Type == api.EventTask && ev.Action == api.ActionCreate:
			sawTaskCreate = sawCreate && ev.Task != nil && ev.Task.ServiceID == svc.ID && ev.Task.Slot == 1 && ev.Task.ID == ev.ID
		}
	}
	if !sawCreate || !sawTaskCreate {
		t.Errorf("events before the task ran lack the service create (%v) or the task create after it (%v): %+v", sawCreate, sawTaskCreate, evs)
	}
	if taskID == "" {
		t.Fatal("no task ID")
	}

	// ?type=service gives only service events.
	if ev := services.next(); ev.Type != api.EventService || ev.Action != api.ActionCreate || ev.ID != svc.ID {
		t.Errorf("?type=service event = %+v, want the service create", ev)
	}

	t.Run("service filter", func(t *testing.T) {
		only := openEvents(t, srv, "?service=ev")
		if ev := only.next(); ev.Type != "sync" {
			t.Fatalf("first event = %+v, want sync", ev)
		}
		// Another service's events come first in the stream, and must
		// not show.
		other := createService(t, sleepSpec("other", 1))
		code, b := call(t, http.MethodPost, "/v1/services/ev/update", mustJSON(sleepSpec("ev", 2)))
		if code != http.StatusOK {
			t.Fatalf("scale ev: status %d: %s", code, b)
		}
		evs := only.until(func(ev api.Event) bool {
			return ev.Type == api.EventTask && ev.Task != nil && ev.Task.Slot == 2 && ev.Task.Status.State == api.TaskStateRunning
		})
		sawUpdate := false
		for _, ev := range evs {
			switch ev.Type {
			case api.EventService:
				if ev.ID != svc.ID {
					t.Errorf("?service=ev streamed another service's event: %+v", ev)
				}
				sawUpdate = sawUpdate || ev.Action == api.ActionUpdate
			case api.EventTask:
				if ev.Task == nil || ev.Task.ServiceID != svc.ID {
					t.Errorf("?service=ev streamed another service's task: %+v", ev)
				}
			default:
				t.Errorf("?service=ev streamed a %s event", ev.Type)
			}
			if ev.Task != nil && ev.Task.ServiceID == other.ID || ev.ID == other.ID {
				t.Errorf("?service=ev streamed an event of other: %+v", ev)
			}
		}
		if !sawUpdate {
			t.Errorf("?service=ev did not stream the service's update: %+v", evs)
		}
	})

	t.Run("removal", func(t *testing.T) {
		only := openEvents(t, srv, "?service="+svc.ID)
		only.next()
		if code, b := call(t, http.MethodDelete, "/v1/services/ev", ""); code != http.StatusNoContent {
			t.Fatalf("remove ev: status %d: %s", code, b)
		}
		only.until(func(ev api.Event) bool {
			return ev.Type == api.EventService && ev.Action == api.ActionRemove && ev.ID == svc.ID
		})
		// The tasks of a removed service still stream until they are gone.
		only.until(func(ev api.Event) bool {
			return ev.Type == api.EventTask && ev.Action == api.ActionRemove && ev.ID == taskID
		})
	})
}

// TestEventsEndWithClient checks that the stream's handler returns once
// its client goes away.
func TestEventsEndWithClient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/v1/events", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		testAPI.ServeHTTP(rec, req)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("the events handler did not return after its client left")
	}
	if line, _, _ := strings.Cut(rec.Body.String(), "\n"); !strings.Contains(line, `"Type":"sync"`) {
		t.Errorf("first line %q, want the sync event", line)
	}
}

// TestAmbiguousPrefix checks that an ID prefix matching several services
// is the caller's mistake (400), not a server error, and changes nothing.
func TestAmbiguousPrefix(t *testing.T) {
	cleanupServices(t)
	// IDs start with one of 26 letters: among 27 services two share it.
	// Services of no replicas make no tasks.
	first := map[byte]bool{}
	prefix := ""
	for i := 0; prefix == "" && i <= 26; i++ {
		svc := createService(t, sleepSpec(fmt.Sprintf("amb%d", i), 0))
		if first[svc.ID[0]] {
			prefix = svc.ID[:1]
		}
		first[svc.ID[0]] = true
	}
	if prefix == "" {
		t.Fatal("27 services and no two IDs share their first letter")
	}
	n := len(listServices(t))
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/services/" + prefix, ""},
		{http.MethodDelete, "/v1/services/" + prefix, ""},
		{http.MethodPost, "/v1/services/" + prefix + "/update", mustJSON(sleepSpec("amb0", 1))},
		{http.MethodGet, "/v1/tasks?service=" + prefix, ""},
		{http.MethodGet, "/v1/events?service=" + prefix, ""},
	} {
		msg := callError(t, r.method, r.path, r.body, http.StatusBadRequest)
		if !strings.Contains(msg, "ambiguous") {
			t.Errorf("%s %s: message %q", r.method, r.path, msg)
		}
	}
	if got := len(listServices(t)); got != n {
		t.Errorf("%d services after the failed requests, want %d", got, n)
	}
}

// TestTaskFilters checks GET /v1/tasks with ?service=, ?node= and
// ?desired-state= together.
func TestTaskFilters(t *testing.T) {
	cleanupServices(t)
	svc := createService(t, sleepSpec("tf", 2))
	createService(t, sleepSpec("other", 1))
	get := func(query string) []*api.Task {
		t.Helper()
		code, b := call(t, http.MethodGet, "/v1/tasks"+query, "")
		var tasks []*api.Task
		if code != http.StatusOK || json.Unmarshal(b, &tasks) != nil {
			t.Fatalf("GET /v1/tasks%s: status %d: %s", query, code, b)
		}
		return tasks
	}
	// The tasks exist as soon as the orchestrator made them; wait on the
	// event stream until both services have theirs on the node.
	c, err := client.New(testDev.Host())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := errors.New("done")
	err = c.Events(ctx, client.EventFilter{}, func(api.Event) error {
		ts, err := c.TaskList(ctx, client.TaskFilter{Node: "self"})
		if err != nil {
			return err
		}
		if len(ts) == 3 {
			return done
		}
		return nil
	})
	if !errors.Is(err, done) {
		t.Fatalf("wait for 3 tasks on the node: %v", err)
	}
	if ts := get("?service=tf"); len(ts) != 2 || ts[0].Slot != 1 || ts[1].Slot != 2 || ts[0].ServiceID != svc.ID {
		t.Errorf("?service=tf gave %d tasks, want slots 1 and 2 of tf", len(ts))
	}
	if ts := get("?service=tf&node=self"); len(ts) != 2 {
		t.Errorf("?service=tf&node=self gave %d tasks, want 2", len(ts))
	}
	if ts := get("?service=tf&node=" + testDev.NodeID()); len(ts) != 2 {
		t.Errorf("?service=tf&node=ID gave %d tasks, want 2", len(ts))
	}
	if ts := get("?node=self"); len(ts) != 3 {
		t.Errorf("?node=self gave %d tasks, want 3", len(ts))
	}
	if ts := get("?desired-state=running"); len(ts) != 3 {
		t.Errorf("?desired-state=running gave %d tasks, want 3", len(ts))
	}
	if ts := get("?service=tf&desired-state=shutdown"); len(ts) != 0 {
		t.Errorf("?service=tf&desired-state=shutdown gave %d tasks, want none", len(ts))
	}
	callError(t, http.MethodGet, "/v1/tasks?service=tf&node=nope", "", http.StatusNotFound)
	ts := get("?service=tf")
	code, b := call(t, http.MethodGet, "/v1/tasks/"+ts[0].ID[:10], "")
	var one api.Task
	if code != http.StatusOK || json.Unmarshal(b, &one) != nil || one.ID != ts[0].ID {
		t.Errorf("GET /v1/tasks/PREFIX: status %d: %s", code, b)
	}
}
