package ingress

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress/middleware"
)

// SecretReader gives the data of a secret a service mounts.
type SecretReader func(ref api.SecretReference) ([]byte, error)

// Env is what reading a service's labels may use beyond them.
type Env struct {
	// Secrets reads the secrets the labels name; nil only checks that
	// they are the service's.
	Secrets SecretReader
	// Others finds the other services whose labels define a middleware
	// the service's do not; nil takes such a middleware to be there,
	// where the cluster's services are not at hand.
	Others Others

	// pool finds, when requests are served, the pool of a Traefik
	// service by the shoal service asking and its name (errorsmw.go).
	pool func(owner, name string) *pool
}

// ParseService reads the Traefik labels of a service, as ParseLabels,
// with the files its labels name (basicauth's and digestauth's
// usersFile, the default store's certificate and key; a path such as
// /run/secrets/NAME) resolved to the secrets the service mounts there,
// read by env.Secrets, and the middlewares it names but does not
// define found in other services' labels (env.Others).
func ParseService(spec *api.ServiceSpec, env Env) (*ServiceRoutes, error) {
	return parseLabels(spec, env, true)
}

// filesOf reads the files spec's labels name from its secrets.
func filesOf(spec *api.ServiceSpec, read SecretReader) middleware.Files {
	return func(p string) ([]byte, error) {
		ref, err := secretAt(spec, p)
		if err != nil {
			return nil, err
		}
		if read == nil {
			return nil, middleware.ErrNotRead
		}
		data, err := read(ref)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", ref.SecretName, err)
		}
		return data, nil
	}
}

// ValidateService checks a service's Traefik labels as a deploy would
// (ValidateLabels), the files they name included, and the middlewares
// they name but do not define in others (nil: not checked).
func ValidateService(spec *api.ServiceSpec, others Others) error {
	_, err := ParseService(spec, Env{Others: others})
	return err
}

// secretAt is the secret spec mounts at the file p.
func secretAt(spec *api.ServiceSpec, p string) (api.SecretReference, error) {
	if !path.IsAbs(p) {
		return api.SecretReference{}, fmt.Errorf("%q is not an absolute path: name the file a secret of the service is mounted at, /run/secrets/NAME", p)
	}
	for _, ref := range spec.TaskTemplate.ContainerSpec.Secrets {
		if ref.Target() == path.Clean(p) {
			return ref, nil
		}
	}
	return api.SecretReference{}, fmt.Errorf("%s is not a secret of the service: the ingress reads a users file only from a secret the service mounts (--secret NAME mounts it at /run/secrets/NAME)", p)
}

// readsFile reports whether the lower-cased label key names a file.
func readsFile(key string) bool {
	return strings.HasPrefix(key, "traefik.http.middlewares.") && strings.HasSuffix(key, ".usersfile") ||
		key == "traefik.tls.stores.default.defaultcertificate.certfile" ||
		key == "traefik.tls.stores.default.defaultcertificate.keyfile"
}

// LabelSecrets are the secrets of spec that its Traefik labels read
// (usersFile, certificate files): what the ingress needs of them. A service's other secrets
// stay with its tasks.
func LabelSecrets(spec *api.ServiceSpec) []api.SecretReference {
	var out []api.SecretReference
	seen := map[string]bool{}
	for k, v := range spec.Labels {
		low := strings.ToLower(k)
		if !readsFile(low) {
			continue
		}
		ref, err := secretAt(spec, strings.TrimSpace(v))
		if err != nil || seen[ref.Target()] {
			continue
		}
		seen[ref.Target()] = true
		out = append(out, ref)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target() < out[j].Target() })
	return out
}
