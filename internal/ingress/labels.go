package ingress

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress/middleware"
	"github.com/shoalproject/shoal/internal/ingress/rules"
)

// Defaults of the load-balancer options, Traefik's.
const (
	DefaultHealthCheckInterval = 30 * time.Second
	DefaultHealthCheckTimeout  = 5 * time.Second
	DefaultCookiePath          = "/"
)

// ServiceRoutes is the HTTP routing a shoal service asks for through its
// Traefik labels (deploy.labels): routers that match requests and the
// load-balanced Traefik services they send them to.
type ServiceRoutes struct {
	// ServiceName is the shoal service the labels belong to.
	ServiceName string
	// Enable is the value of traefik.enable, nil when the label is absent.
	Enable *bool
	// Routers are sorted by name.
	Routers []Router
	// Services are the Traefik services (load balancers), sorted by name.
	Services []LoadBalancer
	// Ignored lists the labels shoal's ingress accepts without acting on
	// them, since it already behaves as they ask or they cannot apply
	// (traefik.docker.network, a load balancer's strategy, constraint
	// labels), sorted by label. Labels it cannot honour are errors.
	Ignored []IgnoredLabel
	// Certificate is the certificate the labels give the websecure entry
	// point (traefik.tls.stores.default.defaultcertificate.*, read from
	// the service's secrets), nil without one or when its files were not
	// read (the managers).
	Certificate *tls.Certificate

	// foreign are the middlewares (lower-cased) the labels name and other
	// services define, or were looked for there.
	foreign []string
}

// IgnoredLabel is a label accepted without effect, and why.
type IgnoredLabel struct {
	Label, Reason string
}

// Exposed reports whether the service is routed: traefik.enable when set,
// else exposedByDefault (a proxy option; Traefik's default is true).
func (s *ServiceRoutes) Exposed(exposedByDefault bool) bool {
	if s.Enable != nil {
		return *s.Enable
	}
	return exposedByDefault
}

// Service returns the Traefik service called name, or nil.
func (s *ServiceRoutes) Service(name string) *LoadBalancer {
	for i := range s.Services {
		if strings.EqualFold(s.Services[i].Name, name) {
			return &s.Services[i]
		}
	}
	return nil
}

// Router is one traefik.http.routers.NAME: which requests it takes and the
// Traefik service it sends them to.
type Router struct {
	Name string
	// Rule is the compiled rule.
	Rule *rules.Rule
	// Priority orders routers, highest first; default the rule's length.
	Priority int
	// Service names one of ServiceRoutes.Services.
	Service string
	// EntryPoints restricts the router to these entry points; empty means
	// every entry point.
	EntryPoints []string
	// TLS routers take only HTTPS requests (tls=true, or any tls.*
	// option); the others only plain HTTP ones, as in Traefik.
	TLS bool
	// TLSOptions names the router's TLS options (tls.options, without
	// @file), empty for default; TLSDomains are its tls.domains' main
	// and sans names. With the Host rules' names they choose a
	// handshake's options by its server name (tlsselect.go).
	TLSOptions string
	TLSDomains []string
	// Middlewares names the router's middlewares, in the order applied;
	// Middleware applies them (nil without any).
	Middlewares []string
	Middleware  middleware.Middleware
	// handler is Middleware applied to the table's forwarding.
	handler http.Handler
	// fastMW: the HTTP/1.1 fast path runs Middleware itself (every
	// middleware only acts on the request: middleware.RequestOnly);
	// otherwise it hands the request to the net/http path.
	fastMW bool
	// Refused, when set, is why the router is not served: its labels, or
	// others of the service, ask for what the ingress cannot do. Such a
	// router answers 503 with this message instead of serving traffic
	// (a deploy refuses these labels; a service created otherwise, or
	// by an older version, still fails closed).
	Refused string
}

// urlScheme is the scheme of requests to the backends: h2c's are http
// URLs, which the backends' transports send as HTTP/2 (newBackend).
func (lb *LoadBalancer) urlScheme() string {
	if lb.Scheme == "h2c" {
		return "http"
	}
	return lb.Scheme
}

// LoadBalancer is one traefik.http.services.NAME.loadbalancer: where the
// service's tasks listen and how requests are spread over them.
type LoadBalancer struct {
	Name string
	// QualifiedName is Name@swarm, the name Traefik itself knows the
	// service by (see DefaultCookieName).
	QualifiedName string
	// Port is the target port the tasks listen on (server.port).
	Port uint32
	// Scheme is "http", "https" or "h2c" (server.scheme; default http):
	// h2c is cleartext HTTP/2 with prior knowledge (gRPC backends), only
	// on the net/http path.
	Scheme string
	// PassHostHeader forwards the client's Host header (default true);
	// false sends the backend's address instead.
	PassHostHeader bool
	// Sticky, when set, pins a client to one task with a cookie.
	Sticky *StickyCookie
	// HealthCheck, when set, is probed on every task; a failing task gets
	// no traffic until it passes again.
	HealthCheck *HealthCheck
}

// StickyCookie is the cookie that pins a client to a task.
type StickyCookie struct {
	Name     string
	Secure   bool
	HTTPOnly bool
	// SameSite is 0 when not set: the cookie has no SameSite attribute.
	SameSite http.SameSite
	// MaxAge in seconds; 0 is a session cookie, negative deletes it.
	MaxAge      int
	Path        string
	Domain      string
	Partitioned bool
}

// HealthCheck is an active HTTP health check of every task.
type HealthCheck struct {
	Path     string
	Interval time.Duration
	Timeout  time.Duration
	// UnhealthyInterval is the interval while the task fails its check
	// (0: Interval).
	UnhealthyInterval time.Duration
	// Scheme is the checks' scheme (http, https or h2c; "": the
	// service's), Port their port (0: the service's).
	Scheme string
	Port   uint16
	// Method is the request's method ("": GET), Hostname its Host ("":
	// the task's address).
	Method, Hostname string
	// Status is the only status that passes (0: any 2xx or 3xx).
	Status int
	// FollowRedirects follows redirects to the task itself (up to 10);
	// a redirect elsewhere fails the check. Without it, a 3xx passes.
	FollowRedirects bool
	// Headers are set on every check request, in order of name.
	Headers []HealthHeader
}

// HealthHeader is one header of a health check's requests.
type HealthHeader struct{ Name, Value string }

// LabelError is a problem with one label, or with one that is missing.
type LabelError struct {
	Label string
	Msg   string
}

// Error returns "label KEY: problem".
func (e *LabelError) Error() string { return "label " + e.Label + ": " + e.Msg }

// ValidateLabels checks the Traefik labels of a service as a deploy would:
// every problem is reported, each naming its label. Labels of a service
// with traefik.enable=false are not checked further, as Traefik ignores
// them.
func ValidateLabels(labels map[string]string) error {
	_, err := ParseLabels("", labels)
	return err
}

// ParseLabels reads the Traefik labels of the shoal service serviceName.
// Keys are case-insensitive, as Traefik's; names of routers and services
// keep the spelling of their first label (in sorted order). The error
// joins every problem found, each a *LabelError naming its label. A
// service with no traefik.* labels gets empty routes and no error.
//
// Defaults follow Traefik: a router's priority is its rule's length; its
// service is the only Traefik service the labels define; a Traefik service
// passes the Host header, uses http, and a sticky cookie is named by
// DefaultCookieName. Unlike Traefik, shoal has no default rule (a router
// needs one, and a service without routers is not routed) and does no
// port detection: every Traefik service needs loadbalancer.server.port.
//
// A usersFile or certificate file is refused (ParseService reads them
// from the service's secrets), and so is a middleware the labels do not
// define (ParseService may find it in other services' labels).
func ParseLabels(serviceName string, labels map[string]string) (*ServiceRoutes, error) {
	none := func(string) []*api.ServiceSpec { return nil }
	return parseLabels(&api.ServiceSpec{Name: serviceName, Labels: labels}, Env{Others: none}, false)
}

// newLabelParser reads the labels of spec with env; files are read
// from its secrets (when withFiles).
func newLabelParser(spec *api.ServiceSpec, env Env) *labelParser {
	return &labelParser{
		out:         &ServiceRoutes{ServiceName: spec.Name},
		routers:     map[string]*routerLabels{},
		services:    map[string]*serviceLabels{},
		middlewares: map[string]*middlewareLabels{},
		env:         env,
		files:       filesOf(spec, env.Secrets),
	}
}

func parseLabels(spec *api.ServiceSpec, env Env, withFiles bool) (*ServiceRoutes, error) {
	serviceName, labels := spec.Name, spec.Labels
	p := newLabelParser(spec, env)
	if !withFiles {
		p.files = nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if len(k) > len("traefik.") && strings.EqualFold(k[:len("traefik.")], "traefik.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.label(k, strings.TrimSpace(labels[k]))
	}
	if p.out.Enable != nil && !*p.out.Enable {
		// Traefik skips a disabled service entirely.
		return &ServiceRoutes{ServiceName: serviceName, Enable: p.out.Enable}, errors.Join(p.errs...)
	}
	p.build()
	sort.Slice(p.out.Ignored, func(i, j int) bool { return p.out.Ignored[i].Label < p.out.Ignored[j].Label })
	sort.SliceStable(p.errs, func(i, j int) bool {
		return labelOf(p.errs[i]) < labelOf(p.errs[j])
	})
	if len(p.errs) > 0 {
		refused := refusedMessage(p.errs)
		for i := range p.out.Routers {
			p.out.Routers[i].Refused = refused
		}
		return p.out, errors.Join(p.errs...)
	}
	return p.out, nil
}

// refusedMessage is what a refused router answers: the first problems,
// each naming its label.
func refusedMessage(errs []error) string {
	const most = 3
	var b strings.Builder
	b.WriteString("the ingress does not serve this router: ")
	for i, e := range errs {
		if i == most {
			fmt.Fprintf(&b, "; and %d more", len(errs)-most)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func labelOf(err error) string {
	var le *LabelError
	if errors.As(err, &le) {
		return le.Label
	}
	return ""
}
