package ingress_test

import (
	"testing"

	"github.com/shoalproject/shoal/internal/ingress"
)

// The expected names were computed outside Go, with
//
//	python3 -c "import hashlib; print('_' + hashlib.sha1(b'_TRAEFIK_BACKEND_signup-web@swarm').hexdigest()[:5])"
//
// following Traefik's cookie.GenerateName applied to the provider-qualified
// service name.
func TestDefaultCookieNameMatchesTraefik(t *testing.T) {
	cases := map[string]string{
		"signup-web@swarm":  "_461b3",
		"signup-web@docker": "_d637c",
		"web@swarm":         "_bb9e4",
	}
	for qualified, want := range cases {
		if got := ingress.DefaultCookieName(qualified); got != want {
			t.Errorf("DefaultCookieName(%q) = %q, want %q", qualified, got, want)
		}
	}
}

func TestSignupWebCookieName(t *testing.T) {
	// The seed story's labels: the Traefik service is named signup-web,
	// so Traefik (Swarm provider) knows it as signup-web@swarm.
	routes, err := ingress.ParseLabels("signup_signup-web", webLabels(
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie=true"))
	if err != nil {
		t.Fatal(err)
	}
	if got := routes.Services[0].Sticky.Name; got != "_461b3" {
		t.Errorf("cookie name = %q, want _461b3", got)
	}
}

func TestTraefikServiceName(t *testing.T) {
	for in, want := range map[string]string{
		"signup_web":   "signup-web",
		"signup-web":   "signup-web",
		"a__b..c":      "a-b-c",
		"_x_":          "x",
		"Stack_Api.v2": "Stack-Api-v2",
	} {
		if got := ingress.TraefikServiceName(in); got != want {
			t.Errorf("TraefikServiceName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ingress.QualifiedName("a"); got != "a@swarm" {
		t.Errorf("QualifiedName(a) = %q", got)
	}
	if got := ingress.QualifiedName("a@file"); got != "a@file" {
		t.Errorf("QualifiedName(a@file) = %q", got)
	}
}

func TestConfiguredCookieNameIsSanitized(t *testing.T) {
	routes, err := ingress.ParseLabels("x", webLabels("traefik.http.services.signup-web.loadbalancer.sticky.cookie.name=my cookie;v=1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := routes.Services[0].Sticky.Name; got != "my_cookie_v_1" {
		t.Errorf("name = %q, want my_cookie_v_1 (Traefik replaces non-token characters with _)", got)
	}
}
