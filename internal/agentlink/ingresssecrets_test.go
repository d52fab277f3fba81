package agentlink_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/state"
)

// The routes stream of a node whose ingress asks for them carries the
// secrets the services' labels read (a basicauth usersFile), each once
// and before the service that needs it, and never a service's other
// secrets; a node that does not ask (no ingress) gets none. The
// services carry their secret references, not their data.
func TestRoutesStreamIngressSecrets(t *testing.T) {
	e := newEnv(t)
	for _, s := range []*api.Secret{
		{ID: "users-id", Spec: api.SecretSpec{Name: "dash_users", Data: []byte("admin:{SHA}x")}},
		{ID: "db-id", Spec: api.SecretSpec{Name: "db", Data: []byte("hunter2")}},
	} {
		e.must(state.Op{Kind: state.OpCreateSecret, Secret: s})
	}
	svc := func(id, name string) *api.Service {
		return &api.Service{ID: id, SpecVersion: 1, Spec: api.ServiceSpec{Name: name,
			Labels: map[string]string{"traefik.http.middlewares.auth.basicauth.usersfile": "/run/secrets/users"},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep"}, Secrets: []api.SecretReference{
				{SecretName: "dash_users", SecretID: "users-id", File: &api.FileTarget{Name: "users"}},
				{SecretName: "db", SecretID: "db-id"},
			}}}}}
	}
	e.must(state.Op{Kind: state.OpCreateService, Service: svc("s1", "dash")})
	e.register(e.client(nodeA), nodeA)

	type line struct {
		reset   bool
		secrets []*api.Secret
	}
	follow := func() (chan agentlink.Routes, chan line, chan api.Event, context.CancelFunc) {
		ctx, cancel := context.WithCancel(testCtx(t))
		resets, lines, events := make(chan agentlink.Routes, 4), make(chan line, 16), make(chan api.Event, 64)
		reset := func(r agentlink.Routes) { resets <- r }
		apply := func(evs ...api.Event) {
			for _, ev := range evs {
				events <- ev
			}
		}
		go func() {
			_, _ = e.client(nodeA).FollowIngressRoutes(ctx, reset, apply, func(reset bool, s []*api.Secret) { lines <- line{reset, s} })
		}()
		return resets, lines, events, cancel
	}

	resets, lines, events, cancel := follow()
	defer cancel()
	first := <-lines
	if !first.reset || len(first.secrets) != 1 || first.secrets[0].ID != "users-id" || string(first.secrets[0].Spec.Data) != "admin:{SHA}x" {
		t.Fatalf("first line's secrets %+v: want dash_users alone, opened", first.secrets)
	}
	r := <-resets
	if refs := r.Services[0].Spec.TaskTemplate.ContainerSpec.Secrets; len(refs) != 2 || r.Services[0].Spec.TaskTemplate.ContainerSpec.Command != nil {
		t.Fatalf("service's container spec %+v: want its secret references alone", r.Services[0].Spec.TaskTemplate.ContainerSpec)
	}
	// A second service naming the same secret: the secret is not sent again.
	e.must(state.Op{Kind: state.OpCreateService, Service: svc("s2", "dash2")})
	for ev := range events {
		if ev.Type == api.EventService && ev.ID == "s2" {
			break
		}
	}
	select {
	case l := <-lines:
		t.Fatalf("secrets sent again: %+v", l.secrets)
	default:
	}
	cancel()

	// Without an ingress (no header): no secrets on the stream.
	if got := e.firstRoutesLine(false); len(got.Secrets) != 0 || len(got.Services) != 2 {
		t.Errorf("a stream without the ingress header: %d secrets, %d services; want 0 and 2", len(got.Secrets), len(got.Services))
	}
	if got := e.firstRoutesLine(true); len(got.Secrets) != 1 {
		t.Errorf("a stream with the ingress header got %d secrets, want 1", len(got.Secrets))
	}
}

// firstRoutesLine reads the first line of a routes stream of node A,
// asking for the ingress's secrets or not.
func (e *env) firstRoutesLine(secrets bool) struct {
	Services []*api.Service
	Secrets  []*api.Secret
} {
	e.t.Helper()
	req, err := http.NewRequestWithContext(testCtx(e.t), http.MethodGet, "https://"+e.addr()+"/agent/v1/routes", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Shoal-Agent-Instance", "raw")
	if secrets {
		req.Header.Set("Shoal-Ingress-Secrets", "1")
	}
	resp, err := e.httpAs(nodeA).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Services []*api.Service
		Secrets  []*api.Secret
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("routes: %d: %v", resp.StatusCode, err)
	}
	return out
}
