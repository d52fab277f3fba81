package ingress

import (
	"crypto/sha1" //nolint:gosec // Traefik's cookie-name algorithm; not used for security.
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
)

// ProviderName is the Traefik provider shoal stands in for. Traefik
// qualifies every name a provider defines as NAME@PROVIDER, and its Swarm
// provider (v3) is called "swarm", so a Traefik service "signup-web"
// declared in deploy.labels is "signup-web@swarm" inside Traefik.
const ProviderName = "swarm"

// QualifiedName returns a Traefik service name qualified with the provider,
// as Traefik's provider.GetQualifiedName does: "signup-web@swarm". A name
// that already has an @ is returned as it is.
func QualifiedName(traefikService string) string {
	if strings.Contains(traefikService, "@") {
		return traefikService
	}
	return traefikService + "@" + ProviderName
}

// DefaultCookieName returns the sticky cookie name Traefik uses when the
// labels set none: "_" and the first 5 hex digits of
// sha1("_TRAEFIK_BACKEND_" + qualifiedService), where qualifiedService is
// the provider-qualified Traefik service name (see QualifiedName). This is
// Traefik's pkg/server/cookie.GenerateName, which the service manager calls
// with the qualified name (cookie.GetName(cookie.Name, serviceName) after
// serviceName = provider.GetQualifiedName(ctx, serviceName)).
func DefaultCookieName(qualifiedService string) string {
	sum := sha1.Sum([]byte("_TRAEFIK_BACKEND_" + qualifiedService)) //nolint:gosec
	return "_" + hex.EncodeToString(sum[:])[:5]
}

// sanitizeCookieName replaces every character not allowed in a cookie name
// (RFC 2616 token) with "_", as Traefik does with a configured name.
func sanitizeCookieName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case strings.ContainsRune("!#$%&'*+-.^`|~", r):
			return r
		}
		return '_'
	}, name)
}

// TraefikServiceName is the name Traefik's Swarm provider gives the
// implicit service of a Swarm service that declares none: the service
// name with every run of characters that are not letters or digits
// replaced by "-" (provider.Normalize), so "signup_web" is "signup-web".
func TraefikServiceName(shoalService string) string {
	return strings.Join(strings.FieldsFunc(shoalService, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}), "-")
}

// stickyValue is the sticky cookie value that pins a client to a task: an
// opaque hash of the task ID, never the task's address. It depends on the
// task ID only, so the ingress of every node maps a cookie to the same
// task, and a new task on a reused address gets a different value.
func stickyValue(taskID string) string {
	sum := sha256.Sum256([]byte("shoal-sticky\x00" + taskID))
	return hex.EncodeToString(sum[:8])
}
