package ingress

import "strings"

// Entry points. The ingress of a node is Traefik's usual pair: web, plain
// HTTP (Serve), and websecure, HTTPS with the node's certificates
// (ServeTLS; shoal dev/agent --ingress-tls). A router with tls=true takes
// only HTTPS requests, one without only plain ones, whatever entry
// point; entrypoints narrows that further.
const (
	EntryPointWeb       = "web"
	EntryPointWebSecure = "websecure"
)

// routerTLSLabel reads traefik.http.routers.NAME.tls.OPTION. Any of them
// makes the router a TLS one, as Traefik's tls section does.
func (p *labelParser) routerTLSLabel(key string, r *routerLabels, opt, value string) {
	r.tlsOpts = true
	switch {
	case opt == "certresolver":
		p.fail(key, "ACME certificate resolvers are not supported (no ACME client runs here): give the nodes their certificates with --ingress-cert; the certificate is chosen by SNI")
	case opt == "options":
		if v := strings.ToLower(value); v != "default" && v != "default@internal" && v != "default@file" {
			p.fail(key, "TLS options %q are not supported: TLS 1.2 and up with Go's defaults (the default options)", value)
		}
	case strings.HasPrefix(opt, "domains[") || strings.HasPrefix(opt, "domains."):
		p.ignore(key, "the certificate is chosen by SNI among the node's (--ingress-cert)")
	default:
		p.fail(key, "unknown router TLS option %q (want certresolver, domains, options)", opt)
	}
}
