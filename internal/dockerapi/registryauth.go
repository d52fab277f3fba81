package dockerapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// warnRegistryAuth is the warning a create or update carrying registry
// credentials gets: dockerd stores X-Registry-Auth with the task so that
// nodes pull with it; shoal's nodes pull with their own engine's
// credentials. The request is still served (deploy scripts pass
// --with-registry-auth out of habit), and the docker CLI prints the
// warning, so the credentials are never dropped without a word.
const warnRegistryAuth = "shoal does not pass registry credentials (--with-registry-auth) to its nodes: each node pulls with its own (run docker login on the nodes that need it)"

// registryAuthWarnings returns the response's warnings for r's
// X-Registry-Auth header: none without credentials in it.
func registryAuthWarnings(r *http.Request) []string {
	if carriesCredentials(r.Header.Get("X-Registry-Auth")) {
		return []string{warnRegistryAuth}
	}
	return []string{}
}

// carriesCredentials reports whether an X-Registry-Auth value (base64url
// JSON, padded or not, as the docker CLI and the moby client send it)
// names any credential. One that cannot be read is taken as carrying
// some: the warning errs on the side of telling.
func carriesCredentials(header string) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return false
	}
	raw, err := base64.URLEncoding.DecodeString(header)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(header); err != nil {
			return true
		}
	}
	var auth struct {
		Username, Password, Auth, IdentityToken, RegistryToken string
	}
	if err := json.Unmarshal(raw, &auth); err != nil {
		return true
	}
	return auth.Username != "" || auth.Password != "" || auth.Auth != "" ||
		auth.IdentityToken != "" || auth.RegistryToken != ""
}
