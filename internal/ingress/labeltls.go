package ingress

import (
	"crypto/tls"
	"errors"
	"strings"

	"github.com/shoalproject/shoal/internal/ingress/middleware"
)

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
		p.fail(key, "ACME certificate resolvers are not supported (no ACME client runs here): give the nodes their certificates with --ingress-cert or a certificate label (traefik.tls.stores.default.defaultcertificate.certfile); the certificate is chosen by SNI")
	case opt == "options":
		if v := strings.ToLower(value); v != "default" && v != "default@internal" && v != "default@file" {
			p.fail(key, "TLS options %q are not supported: TLS 1.2 and up with Go's defaults (the default options)", value)
		}
	case strings.HasPrefix(opt, "domains[") || strings.HasPrefix(opt, "domains."):
		p.ignore(key, "the certificate is chosen by SNI among the node's (--ingress-cert) and the services' certificate labels")
	default:
		p.fail(key, "unknown router TLS option %q (want certresolver, domains, options)", opt)
	}
}

// tlsLabel reads traefik.tls.*: of Traefik's TLS labels, the default
// store's certificate (certfile and keyfile, Traefik's label form),
// which names PEM files; in shoal they are secrets of the service, by
// the file they are mounted at, as usersFile. Every such certificate
// joins the websecure entry point's, chosen by SNI. TLS options and
// other stores are refused.
func (p *labelParser) tlsLabel(key string, lseg []string, value string) {
	switch strings.Join(lseg[2:], ".") {
	case "stores.default.defaultcertificate.certfile":
		p.certFile, p.certFileLabel = value, key
	case "stores.default.defaultcertificate.keyfile":
		p.keyFile, p.keyFileLabel = value, key
	default:
		p.fail(key, "TLS options, stores and their other settings are not supported: certificates come from --ingress-cert or traefik.tls.stores.default.defaultcertificate.certfile and .keyfile (secrets of the service), and TLS is 1.2 and up with Go's defaults")
	}
}

// buildCertificate reads the certificate labels' files.
func (p *labelParser) buildCertificate() {
	switch {
	case p.certFile == "" && p.keyFile == "":
		return
	case p.keyFile == "":
		p.fail(p.certFileLabel, "needs traefik.tls.stores.default.defaultcertificate.keyfile too")
		return
	case p.certFile == "":
		p.fail(p.keyFileLabel, "needs traefik.tls.stores.default.defaultcertificate.certfile too")
		return
	}
	read := func(label, file string) []byte {
		if p.files == nil {
			p.fail(label, "no file can be read here")
			return nil
		}
		data, err := p.files(file)
		if err != nil && !errors.Is(err, middleware.ErrNotRead) {
			p.fail(label, "%v", err)
		}
		return data
	}
	certPEM, keyPEM := read(p.certFileLabel, p.certFile), read(p.keyFileLabel, p.keyFile)
	if certPEM == nil || keyPEM == nil {
		return
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// tls's messages name no key material.
		p.fail(p.certFileLabel, "%s and %s: %v", p.certFile, p.keyFile, err)
		return
	}
	p.out.Certificate = &cert
}
