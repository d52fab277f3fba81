package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait; it is generous on purpose.
const testTimeout = 30 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newServer starts an HTTP server with handler on a unix socket and
// returns a client of it; both are closed when the test ends.
func newServer(t *testing.T, handler http.Handler) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "shoalc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	c, err := New("unix://" + sock)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.http.CloseIdleConnections()
		srv.Close()
	})
	return c
}

func TestNewRejectsBadHosts(t *testing.T) {
	for _, host := range []string{
		"",
		"shoal.sock",
		"/run/shoal.sock",
		"localhost:2375",
		"unix://",
		"unix:",
		"unix://shoal.sock",
		"unix://relative/shoal.sock",
		"tcp://",
		"tcp:///path",
		"http://",
		"https://example.com:443",
		"ftp://example.com",
		"://missing-scheme",
		"tcp://bad host:1",
		"tcp://[::1",
		"tcp://host",
		"http://127.0.0.1:2375",
	} {
		c, err := New(host)
		if err == nil {
			t.Errorf("New(%q) = client of %s, want an error", host, c.base)
			continue
		}
		if !strings.Contains(err.Error(), "invalid host") {
			t.Errorf("New(%q) error %q does not say the host is invalid", host, err)
		}
	}
}

func TestNewAcceptsHosts(t *testing.T) {
	for host, base := range map[string]string{
		"unix:///run/shoal/shoal.sock": "http://shoal",
		"unix:/run/shoal.sock":         "http://shoal",
	} {
		c, err := New(host)
		if err != nil {
			t.Errorf("New(%q): %v", host, err)
			continue
		}
		if c.base != base || c.Host() != host {
			t.Errorf("New(%q): base %q host %q, want base %q", host, c.base, c.Host(), base)
		}
	}
}

// TestUnixSocket checks that a unix:// client talks over the socket.
func TestUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "shoal-client")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/info" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(api.Info{NodeID: "n1", IsLeader: true})
	})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Serve(ln)
	}()
	defer func() {
		srv.Close()
		wg.Wait()
	}()
	c, err := New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.http.CloseIdleConnections()
	info, err := c.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.NodeID != "n1" || !info.IsLeader {
		t.Errorf("info = %+v", info)
	}
}

func TestErrorKinds(t *testing.T) {
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/services/nope":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message": "service nope: not found"}`)
		case "/v1/services/web/update":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"message": "service web is at version 9, not 3"}`)
		case "/v1/services":
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "upstream broke\n")
		default:
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, "{not json")
		}
	}))
	ctx := testCtx(t)

	_, err := c.ServiceInspect(ctx, "nope")
	if !IsNotFound(err) || IsConflict(err) {
		t.Errorf("404: IsNotFound %v IsConflict %v (%v)", IsNotFound(err), IsConflict(err), err)
	}
	if err == nil || err.Error() != "service nope: not found" {
		t.Errorf("404 error = %v, want the API's message", err)
	}
	if !IsNotFound(fmt.Errorf("inspect: %w", err)) {
		t.Error("IsNotFound does not see through wrapping")
	}

	_, err = c.ServiceUpdate(ctx, "web", 3, api.ServiceSpec{Name: "web"})
	if !IsConflict(err) || IsNotFound(err) {
		t.Errorf("409: IsConflict %v IsNotFound %v (%v)", IsConflict(err), IsNotFound(err), err)
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict || !strings.Contains(apiErr.Message, "version 9") {
		t.Errorf("409 error = %#v", err)
	}

	// A body that is not an API error still gives the status and text.
	_, err = c.ServiceList(ctx)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "upstream broke") {
		t.Errorf("502 error = %v", err)
	}
	if IsNotFound(err) || IsConflict(err) {
		t.Errorf("502 is reported as not found or conflict")
	}

	// A success that is not JSON is a decode error, not an API error.
	_, err = c.Info(ctx)
	if err == nil || errors.As(err, &apiErr) || !strings.Contains(err.Error(), "decode") {
		t.Errorf("bad success body: %v", err)
	}

	for _, e := range []error{nil, errors.New("plain"), &Error{StatusCode: 500}, &ConnectError{Host: "x", Err: errors.New("refused")}} {
		if IsNotFound(e) || IsConflict(e) {
			t.Errorf("IsNotFound/IsConflict(%v) = true", e)
		}
	}
}

func TestRequests(t *testing.T) {
	type seen struct {
		method, path, query, contentType string
		body                             api.ServiceSpec
	}
	var mu sync.Mutex
	var got []seen
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, contentType: r.Header.Get("Content-Type")}
		if r.Body != nil && r.ContentLength != 0 {
			if err := json.NewDecoder(r.Body).Decode(&s.body); err != nil {
				t.Errorf("request body: %v", err)
			}
		}
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && (r.URL.Path == "/v1/tasks" || r.URL.Path == "/v1/services"):
			fmt.Fprint(w, "[]")
		default:
			fmt.Fprint(w, "{}")
		}
	}))
	ctx := testCtx(t)
	spec := api.ServiceSpec{Name: "web"}
	calls := []func() error{
		func() error { _, err := c.ServiceCreate(ctx, spec); return err },
		func() error { _, err := c.ServiceUpdate(ctx, "web", 7, spec); return err },
		func() error { _, err := c.ServiceUpdate(ctx, "web", 0, spec); return err },
		func() error { _, err := c.ServiceInspect(ctx, "a/b"); return err },
		func() error { return c.ServiceRemove(ctx, "web") },
		func() error {
			_, err := c.TaskList(ctx, TaskFilter{Service: "web", Node: "self", DesiredState: "running"})
			return err
		},
		func() error { _, err := c.TaskList(ctx, TaskFilter{}); return err },
		func() error { _, err := c.NodeInspect(ctx, "self"); return err },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	want := []seen{
		{method: "POST", path: "/v1/services", contentType: "application/json", body: spec},
		{method: "POST", path: "/v1/services/web/update", query: "version=7", contentType: "application/json", body: spec},
		{method: "POST", path: "/v1/services/web/update", contentType: "application/json", body: spec},
		{method: "GET", path: "/v1/services/a%2Fb"},
		{method: "DELETE", path: "/v1/services/web"},
		{method: "GET", path: "/v1/tasks", query: "desired-state=running&node=self&service=web"},
		{method: "GET", path: "/v1/tasks"},
		{method: "GET", path: "/v1/nodes/self"},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("server saw %d requests, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].method != want[i].method || got[i].path != want[i].path || got[i].query != want[i].query ||
			got[i].contentType != want[i].contentType || got[i].body.Name != want[i].body.Name {
			t.Errorf("request %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestConnectError(t *testing.T) {
	// A listener that is closed at once gives an address nothing serves.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	files := operatorFiles(t, testRoot(t), "alice")
	for _, host := range []string{"tcp://" + addr, "unix:///nonexistent/shoal.sock"} {
		c, err := NewTLS(host, files)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ServiceList(testCtx(t))
		var ce *ConnectError
		if !errors.As(err, &ce) || ce.Host != host {
			t.Errorf("%s: error %#v, want a ConnectError", host, err)
			continue
		}
		if !strings.Contains(err.Error(), "cannot reach shoal at "+host) || ce.Unwrap() == nil {
			t.Errorf("%s: error %q", host, err)
		}
		// Events reports it the same way.
		err = c.Events(testCtx(t), EventFilter{}, func(api.Event) error { return nil })
		if !errors.As(err, &ce) {
			t.Errorf("%s: Events error %v, want a ConnectError", host, err)
		}
	}
	// A cancelled context is reported as such, not as a connect error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, _ := NewTLS("tcp://"+addr, files)
	if _, err := c.ServiceList(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v, want context.Canceled", err)
	}
}

// eventServer streams events: a sync line, then each line sent on lines,
// until the request ends or lines is closed.
func eventServer(t *testing.T, lines <-chan string, queries chan<- string) *Client {
	t.Helper()
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if queries != nil {
			queries <- r.URL.RawQuery
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"Index": 7, "Type": "sync", "Action": "", "ID": ""}`)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case l, ok := <-lines:
				if !ok {
					return
				}
				fmt.Fprintln(w, l)
				w.(http.Flusher).Flush()
			}
		}
	}))
}

func TestEventsStopsOnCancel(t *testing.T) {
	lines := make(chan string)
	queries := make(chan string, 1)
	c := eventServer(t, lines, queries)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan api.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Events(ctx, EventFilter{Types: []string{"service", "task"}, Service: "web"}, func(ev api.Event) error {
			got <- ev
			return nil
		})
	}()
	if q := <-queries; q != "service=web&type=service%2Ctask" {
		t.Errorf("events query %q", q)
	}
	if ev := <-got; ev.Type != "sync" || ev.Index != 7 {
		t.Errorf("first event %+v, want sync at 7", ev)
	}
	lines <- `{"Index": 8, "Type": "service", "Action": "create", "ID": "s1", "Service": {"ID": "s1", "Spec": {"Name": "web"}}}`
	if ev := <-got; ev.Index != 8 || ev.Service == nil || ev.Service.Spec.Name != "web" {
		t.Errorf("second event %+v", ev)
	}
	// Nothing more comes; cancelling ends the stream.
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Events returned %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Events did not return after its context was cancelled")
	}
}

func TestEventsEnds(t *testing.T) {
	t.Run("callback error", func(t *testing.T) {
		c := eventServer(t, nil, nil)
		stop := errors.New("stop")
		n := 0
		err := c.Events(testCtx(t), EventFilter{}, func(api.Event) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("Events = %v after %d events, want the callback's error after 1", err, n)
		}
	})
	t.Run("server closes the stream", func(t *testing.T) {
		lines := make(chan string)
		close(lines)
		c := eventServer(t, lines, nil)
		err := c.Events(testCtx(t), EventFilter{}, func(api.Event) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "closed by the server") {
			t.Errorf("Events = %v, want the stream closed by the server", err)
		}
	})
	t.Run("bad line", func(t *testing.T) {
		lines := make(chan string, 1)
		lines <- "{not json"
		c := eventServer(t, lines, nil)
		err := c.Events(testCtx(t), EventFilter{}, func(api.Event) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "decode event") {
			t.Errorf("Events = %v, want a decode error", err)
		}
	})
	t.Run("API error", func(t *testing.T) {
		c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message": "service nope: not found"}`)
		}))
		err := c.Events(testCtx(t), EventFilter{Service: "nope"}, func(api.Event) error {
			t.Error("callback called for a failed stream")
			return nil
		})
		if !IsNotFound(err) {
			t.Errorf("Events = %v, want not found", err)
		}
	})
}

// A stream the server ends because the client fell behind ends Events with
// an error that says so, after the events before it.
func TestEventsReportsAServerEndedStream(t *testing.T) {
	c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := json.NewEncoder(w)
		_ = enc.Encode(api.Event{Index: 1, Type: "sync"})
		_ = enc.Encode(api.Event{Index: 2, Type: api.EventService, Action: api.ActionCreate, ID: "s1"})
		_ = enc.Encode(api.Event{Index: 9, Type: api.EventStreamError, Message: "this client fell more than 10000 events behind; read the state again and reconnect"})
	}))
	var seen []string
	err := c.Events(testCtx(t), EventFilter{}, func(ev api.Event) error {
		seen = append(seen, ev.Type)
		return nil
	})
	if !errors.Is(err, ErrEventsFellBehind) || !strings.Contains(err.Error(), "fell more than 10000 events behind") {
		t.Fatalf("Events = %v, want ErrEventsFellBehind with the server's message", err)
	}
	if strings.Join(seen, ",") != "sync,service" {
		t.Fatalf("events seen %v, want sync,service (and not the error line)", seen)
	}
}
