package ingress

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoalproject/shoal/internal/ingress/middleware"
	"github.com/shoalproject/shoal/internal/ingress/rules"
)

// labelParser collects traefik.* labels, then builds ServiceRoutes from
// them with Traefik's defaults, recording every problem.
type labelParser struct {
	out         *ServiceRoutes
	routers     map[string]*routerLabels // by lower-cased name
	services    map[string]*serviceLabels
	middlewares map[string]*middlewareLabels
	rOrder      []string
	sOrder      []string
	mOrder      []string
	errs        []error
	// files reads the files labels name (ParseService).
	files middleware.Files
	// env is what the labels may use beyond them; depth counts the other
	// services' middlewares this parser builds one for (labelshared.go).
	env   Env
	depth int
	// certFile and keyFile are the default store's certificate labels
	// (labeltls.go), and their labels.
	certFile, keyFile           string
	certFileLabel, keyFileLabel string
}

type routerLabels struct {
	name        string
	prefix      string // traefik.http.routers.NAME
	rule        string
	ruleLabel   string
	priority    *int
	service     string
	svcLabel    string
	entryPoints []string
	middlewares []string
	mwLabel     string
	// tls is the tls label; tlsOpts is set by any tls.* option, which
	// makes the router a TLS one as in Traefik.
	tls     *bool
	tlsOpts bool
	// tlsOptions is tls.options' value; domains are tls.domains'
	// names.
	tlsOptions string
	domains    []string
}

type serviceLabels struct {
	name    string
	prefix  string // traefik.http.services.NAME.loadbalancer
	port    uint32
	hasPort bool
	scheme  string
	pass    *bool
	sticky  *StickyCookie
	sameSet bool
	hc      *HealthCheck
	hcLabel string
}

func (p *labelParser) fail(label, format string, args ...any) {
	p.errs = append(p.errs, &LabelError{Label: label, Msg: fmt.Sprintf(format, args...)})
}

func (p *labelParser) ignore(label, reason string) {
	p.out.Ignored = append(p.out.Ignored, IgnoredLabel{Label: label, Reason: reason})
}

// label dispatches one traefik.* label.
func (p *labelParser) label(key, value string) {
	seg := strings.Split(key, ".")
	for _, s := range seg {
		if s == "" {
			p.fail(key, "empty name between dots")
			return
		}
	}
	low := strings.ToLower(key)
	lseg := strings.Split(low, ".")
	switch {
	case low == "traefik.enable":
		b, err := strconv.ParseBool(value)
		if err != nil {
			p.fail(key, "%q is not true or false", value)
			return
		}
		p.out.Enable = &b
	case lseg[1] == "http":
		p.httpLabel(key, seg, lseg, value)
	case lseg[1] == "tcp" || lseg[1] == "udp":
		p.fail(key, "%s routers are not supported by shoal's ingress; publish the port instead (ports: with mode ingress)", strings.ToUpper(lseg[1]))
	case lseg[1] == "tls":
		p.tlsLabel(key, lseg, value)
	case lseg[1] == "docker" || lseg[1] == "swarm":
		switch strings.Join(lseg[2:], ".") {
		case "network":
			p.ignore(key, "the ingress reaches tasks on the cluster network")
		case "lbswarm":
			p.ignore(key, "the ingress balances over the service's tasks itself")
		default:
			p.fail(key, "unknown option")
		}
	default:
		if hint, ok := v1Label(lseg); ok {
			p.fail(key, "%s", v1Message(hint))
			return
		}
		// Labels Traefik's own constraints read (traefik.constraint-label
		// =…) and others Traefik does not interpret.
		p.ignore(key, "not a Traefik option: shoal's ingress has no constraints and routes every service with routers")
	}
}

func (p *labelParser) httpLabel(key string, seg, lseg []string, value string) {
	if len(seg) < 3 {
		p.fail(key, "unknown option")
		return
	}
	switch lseg[2] {
	case "middlewares":
		p.middlewareLabel(key, seg, lseg, value)
		return
	case "serverstransports":
		p.fail(key, "servers transports are not supported: connections to https backends are verified against the node's roots")
		return
	case "routers", "services":
	default:
		p.fail(key, "unknown option %q (want routers, services or middlewares)", seg[2])
		return
	}
	if len(seg) < 5 {
		p.fail(key, "missing option after the %s name", strings.TrimSuffix(lseg[2], "s"))
		return
	}
	name, field := seg[3], strings.Join(lseg[4:], ".")
	if lseg[2] == "routers" {
		p.routerLabel(key, p.router(name), field, value)
	} else {
		p.serviceLabel(key, p.service(name), field, value)
	}
}

func (p *labelParser) router(name string) *routerLabels {
	k := strings.ToLower(name)
	r := p.routers[k]
	if r == nil {
		r = &routerLabels{name: name, prefix: "traefik.http.routers." + name}
		p.routers[k] = r
		p.rOrder = append(p.rOrder, k)
	}
	return r
}

func (p *labelParser) service(name string) *serviceLabels {
	k := strings.ToLower(name)
	s := p.services[k]
	if s == nil {
		s = &serviceLabels{name: name, prefix: "traefik.http.services." + name + ".loadbalancer"}
		p.services[k] = s
		p.sOrder = append(p.sOrder, k)
	}
	return s
}

func (p *labelParser) routerLabel(key string, r *routerLabels, field, value string) {
	switch field {
	case "rule":
		r.rule, r.ruleLabel = value, key
	case "priority":
		n, err := strconv.Atoi(value)
		if err != nil {
			p.fail(key, "%q is not a whole number", value)
			return
		}
		r.priority = &n
	case "service":
		r.service, r.svcLabel = value, key
	case "entrypoints":
		r.entryPoints = splitList(value)
		for _, ep := range r.entryPoints {
			if !strings.EqualFold(ep, EntryPointWeb) && !strings.EqualFold(ep, EntryPointWebSecure) {
				p.fail(key, "entry point %s does not exist: the ingress has web (HTTP) and websecure (HTTPS, with --ingress-tls); a router without entrypoints takes both", ep)
			}
		}
	case "rulesyntax":
		if !strings.EqualFold(value, "v3") {
			p.fail(key, "rule syntax %q is not supported; shoal reads Traefik v3 rules", value)
		}
	case "middlewares":
		r.middlewares, r.mwLabel = splitList(value), key
	case "tls":
		b, err := strconv.ParseBool(value)
		if err != nil {
			p.fail(key, "%q is not true or false", value)
			return
		}
		r.tls = &b
	default:
		switch {
		case strings.HasPrefix(field, "tls."):
			p.routerTLSLabel(key, r, field[len("tls."):], value)
		case strings.HasPrefix(field, "observability."):
			p.ignore(key, "the ingress logs and counts every router")
		default:
			p.fail(key, "unknown router option %q", field)
		}
	}
}

// ignoredLB are load-balancer options Traefik has that shoal accepts
// without acting on them, since it behaves as they ask or they cannot
// apply; why, for ServiceRoutes.Ignored.
var ignoredLB = map[string]string{
	"server.weight":                    "each task is one server, all of equal weight",
	"server.preservepath":              "applies to server.url, which shoal's servers (the tasks) have none of",
	"responseforwarding.flushinterval": "responses are flushed as the backend sends them",
	"strategy":                         "the ingress balances by least outstanding requests",
}

// refusedLB are load-balancer options Traefik has that shoal cannot
// honour: a service that sets them is refused.
var refusedLB = map[string]string{
	"sticky":           "use sticky.cookie=true",
	"server.url":       "the servers are the service's tasks; shoal does not route to URLs",
	"serverstransport": "servers transports are not supported: connections to https backends are verified against the node's roots",
	"healthcheck.mode": "not supported yet: checks are HTTP (mode=grpc is not)",
}

func (p *labelParser) serviceLabel(key string, s *serviceLabels, field, value string) {
	lb, ok := strings.CutPrefix(field, "loadbalancer.")
	if !ok {
		switch strings.SplitN(field, ".", 2)[0] {
		case "weighted", "mirroring", "failover", "highestrandomweight":
			p.fail(key, "only loadbalancer services are supported")
		default:
			p.fail(key, "unknown service option %q (want loadbalancer.…)", field)
		}
		return
	}
	cookie := func() *StickyCookie {
		if s.sticky == nil {
			s.sticky = &StickyCookie{Path: DefaultCookiePath}
		}
		return s.sticky
	}
	hc := func() *HealthCheck {
		if s.hc == nil {
			s.hc = &HealthCheck{Interval: DefaultHealthCheckInterval, Timeout: DefaultHealthCheckTimeout}
			s.hcLabel = key
		}
		return s.hc
	}
	switch lb {
	case "server.port":
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil || n == 0 {
			p.fail(key, "%q is not a port number (1-65535)", value)
			return
		}
		s.port, s.hasPort = uint32(n), true
	case "server.scheme":
		v := strings.ToLower(value)
		if v != "http" && v != "https" && v != "h2c" {
			p.fail(key, "scheme %q is not http, https or h2c", value)
			return
		}
		s.scheme = v
	case "passhostheader":
		b, err := strconv.ParseBool(value)
		if err != nil {
			p.fail(key, "%q is not true or false", value)
			return
		}
		s.pass = &b
	case "sticky.cookie":
		b, err := strconv.ParseBool(value)
		if err != nil {
			p.fail(key, "%q is not true or false", value)
			return
		}
		if b {
			cookie()
		}
	case "sticky.cookie.name":
		if value == "" {
			p.fail(key, "empty cookie name")
			return
		}
		cookie().Name = sanitizeCookieName(value)
	case "sticky.cookie.secure", "sticky.cookie.httponly", "sticky.cookie.partitioned":
		b, err := strconv.ParseBool(value)
		if err != nil {
			p.fail(key, "%q is not true or false", value)
			return
		}
		switch lb {
		case "sticky.cookie.secure":
			cookie().Secure = b
		case "sticky.cookie.httponly":
			cookie().HTTPOnly = b
		default:
			cookie().Partitioned = b
		}
	case "sticky.cookie.samesite":
		ss, ok := parseSameSite(value)
		if !ok {
			p.fail(key, "sameSite %q is not none, lax or strict", value)
			return
		}
		cookie().SameSite = ss
	case "sticky.cookie.maxage":
		n, err := strconv.Atoi(value)
		if err != nil {
			p.fail(key, "%q is not a whole number of seconds", value)
			return
		}
		cookie().MaxAge = n
	case "sticky.cookie.path":
		if !strings.HasPrefix(value, "/") {
			p.fail(key, "cookie path %q does not start with /", value)
			return
		}
		cookie().Path = value
	case "sticky.cookie.domain":
		cookie().Domain = value
	default:
		if p.healthLabel(key, lb, value, hc) {
			return
		}
		if reason, ok := ignoredLB[lb]; ok {
			p.ignore(key, reason)
			return
		}
		if msg, ok := refusedLB[lb]; ok {
			p.fail(key, "%s", msg)
			return
		}
		switch {
		case strings.HasPrefix(lb, "passivehealthcheck."):
			p.fail(key, "passive health checks are not supported; a task a connection to fails is left out for 2s, and active checks (healthcheck.*) are")
		default:
			p.fail(key, "unknown load-balancer option %q", lb)
		}
	}
}

// parseSameSite reads Traefik's sameSite values; "" leaves the attribute
// out.
func parseSameSite(v string) (http.SameSite, bool) {
	switch strings.ToLower(v) {
	case "":
		return 0, true
	case "none":
		return http.SameSiteNoneMode, true
	case "lax":
		return http.SameSiteLaxMode, true
	case "strict":
		return http.SameSiteStrictMode, true
	}
	return 0, false
}

// parseDuration reads a duration as Traefik's labels do: a Go duration
// ("10s", "1m30s") or a bare number of seconds ("10").
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(time.Duration(1<<63-1)/time.Second) {
			return 0, errors.New("too long")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// build turns the collected labels into routers and services, applying
// Traefik's defaults.
func (p *labelParser) build() {
	p.buildMiddlewares()
	p.buildCertificate()
	for _, k := range p.sOrder {
		s := p.services[k]
		lb := LoadBalancer{
			Name:           s.name,
			QualifiedName:  QualifiedName(s.name),
			Port:           s.port,
			Scheme:         "http",
			PassHostHeader: true,
			Sticky:         s.sticky,
			HealthCheck:    s.hc,
		}
		if !s.hasPort {
			p.fail(s.prefix+".server.port", "required: shoal does not detect ports; set the port the service's tasks listen on")
		}
		if s.scheme != "" {
			lb.Scheme = s.scheme
		}
		if s.pass != nil {
			lb.PassHostHeader = *s.pass
		}
		if lb.Sticky != nil && lb.Sticky.Name == "" {
			lb.Sticky.Name = DefaultCookieName(lb.QualifiedName)
		}
		if lb.HealthCheck != nil && lb.HealthCheck.Path == "" {
			p.fail(s.prefix+".healthcheck.path", "required when %s is set", s.hcLabel)
		}
		if lb.HealthCheck != nil {
			sortHeaders(lb.HealthCheck.Headers)
		}
		p.out.Services = append(p.out.Services, lb)
	}
	if len(p.routers) > 0 && len(p.services) == 0 && !p.allInternal() {
		// Traefik's implicit service: named after the Swarm service, its
		// port detected from the container, which shoal does not do.
		name := TraefikServiceName(p.out.ServiceName)
		if name == "" {
			name = "<service>"
		}
		p.fail("traefik.http.services."+name+".loadbalancer.server.port",
			"required: shoal does not detect ports; set the port the service's tasks listen on")
	}
	for _, k := range p.rOrder {
		r := p.routers[k]
		rt := Router{Name: r.name, EntryPoints: r.entryPoints}
		if r.rule == "" {
			p.fail(r.prefix+".rule", "required")
			continue
		}
		rule, err := rules.Parse(r.rule)
		if err != nil {
			p.fail(r.ruleLabel, "%v", err)
			continue
		}
		rt.Rule = rule
		rt.Priority = len(r.rule)
		if r.priority != nil {
			rt.Priority = *r.priority
		}
		// A router whose service or middlewares fail is still listed:
		// ParseLabels marks it refused, and the table answers 503.
		rt.Service, _ = p.routerService(r)
		rt.Middleware, rt.Middlewares, rt.fastMW, _ = p.routerMiddleware(r)
		rt.TLS = r.tlsOpts || (r.tls != nil && *r.tls)
		if r.tlsOptions != "" {
			if n := TLSOptionName(r.tlsOptions); n != DefaultTLSOption {
				rt.TLSOptions = n
			}
		}
		rt.TLSDomains = r.domains
		p.out.Routers = append(p.out.Routers, rt)
	}
	sort.Slice(p.out.Routers, func(i, j int) bool { return p.out.Routers[i].Name < p.out.Routers[j].Name })
	sort.Slice(p.out.Services, func(i, j int) bool { return p.out.Services[i].Name < p.out.Services[j].Name })
}

// routerService resolves the Traefik service a router sends to.
func (p *labelParser) routerService(r *routerLabels) (string, bool) {
	if r.service == "" {
		switch len(p.sOrder) {
		case 0:
			return "", false // reported as the implicit service's missing port
		case 1:
			return p.services[p.sOrder[0]].name, true
		}
		names := make([]string, 0, len(p.sOrder))
		for _, k := range p.sOrder {
			names = append(names, p.services[k].name)
		}
		p.fail(r.prefix+".service", "required when several services are defined (%s)", strings.Join(names, ", "))
		return "", false
	}
	name := r.service
	if base, provider, ok := strings.Cut(name, "@"); ok {
		if strings.EqualFold(name, InternalAPI) {
			// The node's own dashboard (table.go, InternalAPI).
			return InternalAPI, true
		}
		if strings.EqualFold(name, "dashboard@internal") {
			p.fail(r.svcLabel, "%s is Traefik v2's dashboard alone; shoal's dashboard and its API are one service: use %s", name, InternalAPI)
			return "", false
		}
		if !strings.EqualFold(provider, ProviderName) && !strings.EqualFold(provider, "docker") {
			p.fail(r.svcLabel, "service %q belongs to provider %q; shoal routes only to services of the same labels", name, provider)
			return "", false
		}
		name = base
	}
	if s, ok := p.services[strings.ToLower(name)]; ok {
		return s.name, true
	}
	if len(p.services) == 0 {
		return "", false // reported as the implicit service's missing port
	}
	p.fail(r.svcLabel, "service %q is not defined by traefik.http.services.%s.* labels", r.service, name)
	return "", false
}

// allInternal reports whether every router sends to api@internal: such
// labels need no Traefik service of their own (no port to set).
func (p *labelParser) allInternal() bool {
	for _, r := range p.routers {
		if !strings.EqualFold(r.service, InternalAPI) {
			return false
		}
	}
	return true
}
