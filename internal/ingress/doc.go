// Package ingress is shoal's built-in HTTP ingress: a reverse proxy that
// reads the Traefik v3 labels of services (deploy.labels) and routes each
// request to a healthy running task, with sticky sessions, retries and
// active health checks, following the cluster's task stream so that task
// churn drops no request.
//
// The parts, in the order a request meets them:
//
//   - labels.go, labelparse.go: ParseLabels and ValidateLabels turn
//     traefik.* labels into routers and load-balanced Traefik services
//     (ServiceRoutes), with Traefik's defaults and errors that name the
//     label.
//   - rules/: the router rule language, parsed once with go/parser into a
//     matcher tree evaluated without allocation.
//   - table.go: Table, the routing state built from services and tasks
//     (Reset) and kept current from api.Events (Apply, events.go),
//     recompiled per changed service and published as an immutable
//     snapshot behind an atomic pointer (rebuild.go).
//   - proxy.go: Proxy, the http.Handler and its servers; forward.go: the
//     per-attempt backend choice and the retry policy.
//   - balancer.go: backends and the least-outstanding pick;
//     healthcheck.go: active checks; cookie.go: cookie names and values;
//     stats.go: counters and latency histograms (Stats).
//
// # Which tasks get traffic
//
// A task is a backend of a Traefik service when its desired state and its
// state are both running and it is healthy (or has no health check), using
// its endpoint for the target port loadbalancer.server.port. A task whose
// desired state moves past running leaves the pool at once: the
// orchestrator sets the desired state before the agent stops the task, so
// new requests stop going to it while it still serves those in flight.
// Removal only affects new picks; a removed backend's idle connections are
// closed and its open ones finish.
//
// # Sticky cookie name
//
// Traefik names the cookie, when the labels do not, with
// cookie.GenerateName(serviceName): "_" + the first 5 hex digits of
// sha1("_TRAEFIK_BACKEND_" + serviceName) (pkg/server/cookie/cookie.go).
// pkg/server/service/service.go calls it from getLoadBalancerServiceHandler
// with the service name already qualified by BuildHTTP
// (provider.GetQualifiedName: NAME@PROVIDER). The Swarm provider of Traefik
// v3 is named "swarm" (pkg/provider/docker/pswarm.go, const swarmName), and
// NAME is the Traefik service name from the labels, or, for the implicit
// service, the Swarm service name passed through provider.Normalize (runs
// of non-alphanumerics become "-"). So the seed story's
// traefik.http.services.signup-web.* gets "_461b3" =
// "_"+sha1("_TRAEFIK_BACKEND_signup-web@swarm")[:5]. (Traefik v2 ran Swarm
// under the docker provider, which gives "signup-web@docker" and "_d637c":
// a client moving from a v2 setup gets one new pin, nothing worse.)
//
// The cookie value is hex(sha256("shoal-sticky\x00" + task ID))[:16]: opaque,
// never the address, the same on every node's ingress, and different for
// a new task on a reused address.
//
// # Decisions
//
//   - Routers and Traefik services are scoped to their shoal service: two
//     services may both name a router "web" (Traefik would merge or drop
//     them), and a router's service must be defined by the same labels
//     (NAME, NAME@swarm or NAME@docker).
//   - No default rule and no port detection: a router needs a rule, a
//     Traefik service needs server.port, and a service with no routers is
//     not routed (Traefik's defaultRule would route Host(`name`)).
//   - Unknown options under traefik.http.* are errors, as Traefik's label
//     decoder refuses them; options Traefik has that shoal does not act on
//     (middlewares, TLS, weights, …) are accepted and listed in
//     ServiceRoutes.Ignored. An invalid sameSite is an error (Traefik
//     silently omits the attribute).
//   - Balancing is least-outstanding-requests with a round-robin
//     tie-break; see pool.pick for the measurement against SWRR.
//   - Retries: see forwarder. In short, any request is retried on another
//     backend when nothing reached the first (dial failed); after that,
//     only an idempotent request with an unread body and no response
//     byte, and never after a timeout.
//   - Backend connections idle out after 4s (TableOptions.IdleConnTimeout)
//     so the proxy, not a backend with a 5s keep-alive, closes them.
//   - Clients: HTTP/1.1 keep-alive; HTTP/2 with TLS (ServeTLS); cleartext
//     HTTP/2 (h2c, prior knowledge) only with Options.H2C, since it is
//     meant for a trusted hop behind another proxy. Backends: HTTP/1.1.
//   - X-Forwarded-* from clients are replaced unless the client is in
//     Options.TrustedProxies (Traefik's forwardedHeaders.trustedIPs).
//   - Counters are this package's own types (Stats); they can be exported
//     to Prometheus once client_golang is a dependency.
//
// # Benchmarks (to be written in bench/, against HAProxy)
//
// A comparison should measure, for 1, 2 and 8 backends of a trivial Go
// HTTP server on the same host: throughput (req/s) and latency p50/p99/
// p99.9 at fixed offered loads (open-loop, e.g. wrk2 or vegeta) for small
// GETs, 64 KiB POSTs and 1 MiB responses, keep-alive and not; the same
// with sticky cookies; CPU per request of the proxy process; allocations
// per request (go test -benchmem on Proxy.ServeHTTP over loopback); the
// cost of a routing table of 1,000 routers (match time with the matching
// router first and last); and, during a rolling update that replaces
// every backend (desired-shutdown event, then SIGTERM after a delay),
// the count of failed requests and the latency spike, next to HAProxy
// with the equivalent cookie SERVERID insert indirect nocache and
// option redispatch configuration reloaded by its runtime API.
package ingress
