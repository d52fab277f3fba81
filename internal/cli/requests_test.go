package cli

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recordedRequests are what the CLI sends for a few commands (method,
// path and query, body), recorded on Linux. TestRequestCodeIsTheSameOnEveryPlatform
// shows darwin and windows builds compile these from the same files.
const recordedRequests = `GET /v1/services
GET /v1/tasks
GET /v1/info
GET /v1/nodes
POST /v1/networks {"Name":"backend","Labels":{"team":"web"},"Driver":"overlay","Attachable":true}
POST /v1/services {"Name":"web","Labels":{"tier":"front"},"TaskTemplate":{"ContainerSpec":{"Image":"nginx:1.27","Env":["A=1"]}},"Mode":{"Replicated":{"Replicas":3}},"EndpointSpec":{"Ports":[{"TargetPort":80,"PublishedPort":8080}]}}
DELETE /v1/services/web
`

// TestRecordedRequests runs CLI commands against a server that records
// each request and answers empty objects and lists.
func TestRecordedRequests(t *testing.T) {
	dir, err := os.MkdirTemp("", "shoalrec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got strings.Builder
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got.WriteString(r.Method + " " + r.URL.RequestURI())
		if len(b) > 0 {
			got.WriteString(" " + strings.TrimSpace(string(b)))
		}
		got.WriteString("\n")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet && r.URL.Path != "/v1/info" && !strings.Contains(strings.TrimPrefix(r.URL.Path, "/v1/"), "/") {
			io.WriteString(w, "[]")
			return
		}
		io.WriteString(w, "{}")
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	host := "--host=unix://" + filepath.Join(dir, "s.sock")
	for _, args := range [][]string{
		{"service", "ls", "-q"},
		{"node", "ls", "-q"},
		{"network", "create", "--driver", "overlay", "--attachable", "--label", "team=web", "backend"},
		{"service", "create", "--detach", "--name", "web", "--replicas", "3", "--label", "tier=front", "-e", "A=1", "-p", "8080:80", "nginx:1.27"},
		{"service", "rm", "web"},
	} {
		if r := shoalRaw(t, append([]string{host}, args...)...); r.code != 0 {
			t.Fatalf("%v: %s", args, r)
		}
	}
	if got.String() != recordedRequests {
		t.Fatalf("requests:\n%s\nwant:\n%s", got.String(), recordedRequests)
	}
}
