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
	if err := ingress.ValidateService(&svc.Spec, nil); err != nil {
		t.Fatalf("ValidateService: %v", err)
	}
	if refs := ingress.LabelSecrets(&svc.Spec); len(refs) != 1 || refs[0].SecretID != "sec1" {
		t.Errorf("LabelSecrets = %+v, want dash_users alone", refs)
	}
	for _, file := range []string{"/run/secrets/db", "users", "/etc/passwd"} {
		bad := usersFileService(file)
		err := ingress.ValidateService(&bad.Spec, nil)
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

// The default store's certificate labels name two secrets of the
// service, which LabelSecrets lists; one without the other, a file that
// is not a secret of the service, other TLS labels, and (where the
// secrets are read) a pair that is no certificate and key are refused,
// each naming its label.
func TestCertificateLabels(t *testing.T) {
	const (
		certL = "traefik.tls.stores.default.defaultcertificate.certfile"
		keyL  = "traefik.tls.stores.default.defaultcertificate.keyfile"
	)
	spec := func(kv ...string) *api.ServiceSpec {
		s := service("s1", "site", labels(append([]string{
			"traefik.http.routers.site.rule=Host(`site.example`)",
			"traefik.http.routers.site.tls=true",
			"traefik.http.services.site.loadbalancer.server.port=80",
		}, kv...)...))
		s.Spec.TaskTemplate.ContainerSpec.Secrets = []api.SecretReference{
			{SecretName: "site.crt", SecretID: "crt"}, {SecretName: "site.key", SecretID: "key"}, {SecretName: "db", SecretID: "db"},
		}
		return &s.Spec
	}
	good := spec(certL+"=/run/secrets/site.crt", keyL+"=/run/secrets/site.key")
	if err := ingress.ValidateService(good, nil); err != nil {
		t.Fatalf("ValidateService: %v", err)
	}
	if refs := ingress.LabelSecrets(good); len(refs) != 2 || refs[0].SecretID != "crt" || refs[1].SecretID != "key" {
		t.Errorf("LabelSecrets = %+v, want site.crt and site.key", refs)
	}
	for _, c := range []struct {
		spec       *api.ServiceSpec
		label, msg string
	}{
		{spec(certL + "=/run/secrets/site.crt"), certL, "needs " + keyL},
		{spec(certL+"=/run/secrets/site.crt", keyL+"=/run/secrets/other"), keyL, "not a secret of the service"},
		{spec("traefik.tls.options.default.minversion=VersionTLS13"), "traefik.tls.options.default.minversion", "labels cannot define TLS options"},
	} {
		err := ingress.ValidateService(c.spec, nil)
		if err == nil || !strings.Contains(err.Error(), "label "+c.label+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: %v, want label %s: …%s", c.spec.Labels, err, c.label, c.msg)
		}
	}
	read := func(ref api.SecretReference) ([]byte, error) { return []byte("not PEM"), nil }
	if _, err := ingress.ParseService(good, ingress.Env{Secrets: read}); err == nil || !strings.Contains(err.Error(), "label "+certL+": ") {
		t.Errorf("a pair that is no certificate: %v, want it refused at %s", err, certL)
	}
}
