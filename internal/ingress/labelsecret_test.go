package ingress_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// usersFileService protects its dashboard with a basicauth whose users
// are in the secret dash_users, which it mounts at /run/secrets/users
// (a stack's secret "users"), next to another secret the ingress never
// needs.
func usersFileService(file string) *api.Service {
	s := service("s1", "dash", labels(
		"traefik.http.routers.dash.rule=PathPrefix(`/dash`)",
		"traefik.http.routers.dash.middlewares=auth",
		"traefik.http.middlewares.auth.basicauth.usersfile="+file,
		"traefik.http.services.dash.loadbalancer.server.port=80",
	))
	s.Spec.TaskTemplate.ContainerSpec.Secrets = []api.SecretReference{
		{SecretName: "dash_users", SecretID: "sec1", File: &api.FileTarget{Name: "users"}},
		{SecretName: "db_password", SecretID: "sec2"},
	}
	return s
}

// A usersFile names a secret the service mounts: the managers check that
// it is one (without reading it), LabelSecrets names only it, and the
// ingress reads it to check credentials. A file that is not one of the
// service's secrets is refused, and so is a service whose secret the
// node's ingress was not given (503, fail closed).
func TestUsersFileFromTheServicesSecret(t *testing.T) {
	svc := usersFileService("/run/secrets/users")
	if err := ingress.ValidateService(&svc.Spec); err != nil {
		t.Fatalf("ValidateService: %v", err)
	}
	if refs := ingress.LabelSecrets(&svc.Spec); len(refs) != 1 || refs[0].SecretID != "sec1" {
		t.Errorf("LabelSecrets = %+v, want dash_users alone", refs)
	}
	for _, file := range []string{"/run/secrets/db", "users", "/etc/passwd"} {
		bad := usersFileService(file)
		err := ingress.ValidateService(&bad.Spec)
		if err == nil || !strings.Contains(err.Error(), "traefik.http.middlewares.auth.basicauth.usersfile") {
			t.Errorf("usersFile %s: %v, want an error naming the label", file, err)
		}
		if refs := ingress.LabelSecrets(&bad.Spec); len(refs) != 0 {
			t.Errorf("usersFile %s: LabelSecrets = %+v", file, refs)
		}
	}

	var asked []string
	read := func(ref api.SecretReference) ([]byte, error) {
		asked = append(asked, ref.SecretID)
		if ref.SecretID != "sec1" {
			return nil, errors.New("no such secret")
		}
		return []byte("# the admins\n" + bcryptUser + "\n"), nil
	}
	e := newEnv(t, ingress.TableOptions{Secrets: read}, ingress.Options{})
	b := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{svc}, []*api.Task{task("t1", "s1", b.addr())})
	if r := e.get("/dash/"); r.status != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", r.status)
	}
	if r := e.get("/dash/", "Authorization", basicAuth("admin", "s3cret")); r.status != http.StatusOK {
		t.Errorf("the file's user: %d, want 200", r.status)
	}
	if strings.Join(asked, ",") != "sec1" {
		t.Errorf("the ingress read secrets %v, want sec1 once", asked)
	}

	// A node whose ingress has no secrets serves the router 503.
	e2 := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	e2.table.Reset([]*api.Service{svc}, []*api.Task{task("t1", "s1", b.addr())})
	if r := e2.get("/dash/", "Authorization", basicAuth("admin", "s3cret")); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "usersfile") {
		t.Errorf("without the secret: %d %q, want 503 naming the label", r.status, r.body)
	}
	if b.hits.Load() != 1 {
		t.Errorf("the backend got %d requests, want 1", b.hits.Load())
	}
}
