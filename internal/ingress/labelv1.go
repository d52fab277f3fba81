package ingress

import "strings"

// Traefik v1 labels (traefik.port, traefik.frontend.rule, and the
// traefik.SEGMENT.* forms) are refused with their v3 form: Traefik v2
// and v3 ignore them, so a stack that still carries them is routed in a
// way its author did not write.

// v1Hints maps a v1 label, lower-cased and without "traefik." (and
// without the segment name), to its v3 form.
var v1Hints = map[string]string{
	"port":                            "traefik.http.services.NAME.loadbalancer.server.port",
	"protocol":                        "traefik.http.services.NAME.loadbalancer.server.scheme",
	"weight":                          "one task is one server; weights are not supported",
	"backend":                         "name the service in traefik.http.services.NAME.loadbalancer.*",
	"tags":                            "nothing (Traefik constraints; shoal's ingress routes every service)",
	"frontend.rule":                   "traefik.http.routers.NAME.rule, in the v3 rule syntax (Host(`example.com`) && PathPrefix(`/api`))",
	"frontend.entrypoints":            "traefik.http.routers.NAME.entrypoints",
	"frontend.priority":               "traefik.http.routers.NAME.priority",
	"frontend.passhostheader":         "traefik.http.services.NAME.loadbalancer.passhostheader",
	"frontend.auth.basic":             "a basicauth middleware (traefik.http.middlewares.AUTH.basicauth.users) named in traefik.http.routers.NAME.middlewares",
	"frontend.auth.basic.users":       "a basicauth middleware (traefik.http.middlewares.AUTH.basicauth.users) named in traefik.http.routers.NAME.middlewares",
	"frontend.redirect.entrypoint":    "a redirectscheme middleware (traefik.http.middlewares.R.redirectscheme.scheme=https)",
	"frontend.redirect.regex":         "a redirectregex middleware (traefik.http.middlewares.R.redirectregex.regex)",
	"frontend.whitelist.sourcerange":  "an ipallowlist middleware (traefik.http.middlewares.A.ipallowlist.sourcerange)",
	"backend.loadbalancer.stickiness": "traefik.http.services.NAME.loadbalancer.sticky.cookie=true",
	"backend.healthcheck.path":        "traefik.http.services.NAME.loadbalancer.healthcheck.path",
	"backend.healthcheck.interval":    "traefik.http.services.NAME.loadbalancer.healthcheck.interval",
}

// v1Roots are the first names after "traefik." of v1 labels, with or
// without a segment name before them.
var v1Roots = map[string]bool{"port": true, "protocol": true, "weight": true, "backend": true, "frontend": true, "tags": true}

// v1Label returns the v3 form of a v1 label (lseg is the lower-cased
// label split at dots), or ok false when the label is not v1's.
func v1Label(lseg []string) (hint string, ok bool) {
	rest := lseg[1:]
	if !v1Roots[rest[0]] {
		if len(rest) < 2 || !v1Roots[rest[1]] {
			return "", false
		}
		rest = rest[1:] // traefik.SEGMENT.port, traefik.SEGMENT.frontend.rule
	}
	key := strings.Join(rest, ".")
	if h, ok := v1Hints[key]; ok {
		return h, true
	}
	switch rest[0] {
	case "frontend":
		if len(rest) > 1 && rest[1] == "headers" {
			return "a headers middleware (traefik.http.middlewares.H.headers.*) named in traefik.http.routers.NAME.middlewares", true
		}
		return "traefik.http.routers.NAME.* and middlewares", true
	case "backend":
		return "traefik.http.services.NAME.loadbalancer.*", true
	}
	return "traefik.http.* labels", true
}

func v1Message(hint string) string {
	return "a Traefik v1 label, which Traefik v2 and v3 (and shoal) do not read; v3 form: " + hint + " (see docs/ingress.md)"
}
