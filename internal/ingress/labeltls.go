package ingress

import (
	"crypto/tls"
	"errors"
	"slices"
	"strconv"
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
		// The options live on the ingress nodes (--ingress-tls-options):
		// a name they lack makes the router answer 503 there (Table).
		name, provider, _ := strings.Cut(value, "@")
		switch {
		case name == "" || strings.ContainsAny(name, " \t,"):
			p.fail(key, "invalid TLS options name %q", value)
		case provider != "" && !strings.EqualFold(provider, "file") &&
			!(strings.EqualFold(provider, "internal") && strings.EqualFold(name, DefaultTLSOption)):
			p.fail(key, "TLS options come from the ingress nodes' --ingress-tls-options file (NAME or NAME@file); labels cannot define them, so %s has none", "@"+provider)
		default:
			r.tlsOptions = value
		}
	case strings.HasPrefix(opt, "domains["):
		p.routerDomain(key, r, opt, value)
	default:
		p.fail(key, "unknown router TLS option %q (want certresolver, domains[N].main, domains[N].sans, options)", opt)
	}
}

// routerDomain reads tls.domains[n].main and .sans: the names, with
// the Host rules', whose handshakes get the router's TLS options. The
// certificate is still chosen by SNI among the node's and the labels'.
func (p *labelParser) routerDomain(key string, r *routerLabels, opt, value string) {
	i := strings.Index(opt, "].")
	if i < 0 {
		p.fail(key, "unknown router TLS option %q (want domains[N].main or domains[N].sans)", opt)
		return
	}
	if _, err := strconv.Atoi(opt[len("domains["):i]); err != nil {
		p.fail(key, "unknown router TLS option %q (want domains[N].main or domains[N].sans)", opt)
		return
	}
	var names []string
	switch opt[i+2:] {
	case "main":
		names = []string{value}
	case "sans":
		names = splitList(value)
	default:
		p.fail(key, "unknown router TLS option %q (want domains[N].main or domains[N].sans)", opt)
		return
	}
	for _, n := range names {
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		if n == "" || strings.ContainsAny(n, " /:@") || strings.Contains(n[1:], "*") ||
			n[0] == '*' && (len(n) < 3 || n[1] != '.') {
			p.fail(key, "invalid domain %q (a host name, or *.NAME)", n)
			continue
		}
		if !slices.Contains(r.domains, n) {
			r.domains = append(r.domains, n)
		}
	}
}

// tlsLabel reads traefik.tls.*: of Traefik's TLS labels, the default
// store's certificate (certfile and keyfile, Traefik's label form),
// which names PEM files; in shoal they are secrets of the service, by
// the file they are mounted at, as usersFile. Every such certificate
// joins the websecure entry point's, chosen by SNI. TLS options (the
// nodes' file's, tlsoptions.go) and other stores are refused.
func (p *labelParser) tlsLabel(key string, lseg []string, value string) {
	switch strings.Join(lseg[2:], ".") {
	case "stores.default.defaultcertificate.certfile":
		p.certFile, p.certFileLabel = value, key
	case "stores.default.defaultcertificate.keyfile":
		p.keyFile, p.keyFileLabel = value, key
	default:
		p.fail(key, "labels cannot define TLS options or stores (as in Traefik): TLS options come from the ingress nodes' --ingress-tls-options file, which routers name with tls.options; certificates from --ingress-cert or traefik.tls.stores.default.defaultcertificate.certfile and .keyfile (secrets of the service)")
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
