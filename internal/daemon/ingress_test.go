package daemon

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// TestIngressEncodedSeparatorOptions: a node's ingress refuses request
// paths with %2F or %5C (400) unless its IngressConfig allows each, and
// then sends them on encoded.
func TestIngressEncodedSeparatorOptions(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.RequestURI)
	}))
	defer backend.Close()
	svc := &api.Service{ID: "s1", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web", Labels: map[string]string{
		"traefik.http.routers.web.rule":                      "PathPrefix(`/`)",
		"traefik.http.services.web.loadbalancer.server.port": "80",
	}}}
	tk := &api.Task{ID: "t1", ServiceID: "s1", DesiredState: api.TaskStateRunning,
		Status:    api.TaskStatus{State: api.TaskStateRunning},
		Endpoints: []api.TaskEndpoint{{TargetPort: 80, Addr: backend.Listener.Addr().String()}}}
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for _, c := range []struct {
		cfg    IngressConfig
		path   string
		status int
	}{
		{IngressConfig{}, "/a%2Fb", http.StatusBadRequest},
		{IngressConfig{}, "/a%5Cb", http.StatusBadRequest},
		{IngressConfig{AllowEncodedSlash: true}, "/a%2Fb", http.StatusOK},
		{IngressConfig{AllowEncodedSlash: true}, "/a%5Cb", http.StatusBadRequest},
		{IngressConfig{AllowEncodedBackslash: true}, "/a%5Cb", http.StatusOK},
		{IngressConfig{AllowEncodedBackslash: true}, "/a%2Fb", http.StatusBadRequest},
	} {
		c.cfg.Addr = "127.0.0.1:0"
		var wg sync.WaitGroup
		in, err := startIngress(c.cfg, nil, &wg, quiet)
		if err != nil {
			t.Fatal(err)
		}
		in.table.Reset([]*api.Service{svc}, []*api.Task{tk})
		resp, err := hc.Get("http://" + in.addr + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || (c.status == http.StatusOK && string(body) != c.path) {
			t.Errorf("%+v: GET %s: %d %q, want %d", c.cfg, c.path, resp.StatusCode, body, c.status)
		}
		hc.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := in.stop(ctx); err != nil {
			t.Error(err)
		}
		cancel()
		wg.Wait()
	}
}
