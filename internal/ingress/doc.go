// Package ingress is shoal's built-in HTTP ingress: a reverse proxy that
// reads the Traefik v3 labels of services (deploy.labels) and routes each
// request to a healthy running task, with sticky sessions, retries and
// active health checks, following the cluster's task stream so that task
// churn drops no request.
//
// The parts, in the order a request meets them:
//
//   - labels.go, labelparse.go, labelmw.go, labelv1.go: ParseLabels and
//     ValidateLabels turn traefik.* labels into routers, their
//     middlewares and load-balanced Traefik services (ServiceRoutes),
//     with Traefik's defaults and errors that name the label; labels
//     the ingress cannot honour, Traefik v1's among them (with their v3
//     form), are errors, and the routers of a service that has them are
//     refused (Router.Refused). docs/ingress.md lists every label.
//     errorsmw.go and retrymw.go: the errors and retry middlewares,
//     which use the table's pools and the forwarder's state.
//     labelsecret.go: ParseService, which reads the files labels name
//     (usersFile) from the service's secrets (TableOptions.Secrets), and
//     LabelSecrets, the secrets a node's ingress needs.
//   - middleware/: the Traefik middlewares (basicauth, stripprefix,
//     headers, ratelimit, …), one file each, built once per service
//     spec and applied in the router's order; middleware.RequestOnly
//     says which act on the request alone.
//   - path.go: the request path rule both request paths apply before
//     routing, so that the path the rules match is the path the backend
//     receives (below).
//   - rules/: the router rule language, parsed once with go/parser into a
//     matcher tree evaluated without allocation.
//   - table.go: Table, the routing state built from services and tasks
//     (Reset) and kept current from api.Events (Apply, events.go),
//     recompiled per changed service and published as an immutable
//     snapshot behind an atomic pointer (rebuild.go).
//   - h1server.go, h1head.go, h1forward.go, h1handoff.go,
//     backendconn.go: the HTTP/1.1 fast path that Serve and ServeTLS run
//     (below): its accept loop and connections, request-head parser,
//     forwarder, handoff to net/http, and per-backend pools of raw
//     keep-alive connections; h1headview.go: the request head as
//     rules.Request; h1resphead.go: the backend's response head;
//     h1copy.go: body copies (length, EOF, chunked); h1lex.go: byte
//     classes and lexical helpers of both parsers; h1tls.go: ServeTLS's
//     handshake; h1middleware.go: the request-only middlewares run on
//     the fast path.
//   - tlsoptions.go: Traefik's TLS options (ParseTLSOptions, the
//     nodes' --ingress-tls-options file); tlsselect.go: the options of
//     each handshake, chosen by its server name among the TLS routers'
//     hosts (a snapshot's sniOptions, beside the option set they come
//     from), sniStrict, and the 421 for a request whose Host has other
//     options than its connection, or whose router asks for client
//     certificates under options its handshake did not get;
//     tlsreload.go: the files read again on SIGHUP and when they
//     change (TLSReloader, internal/filewatch), swapped in whole by
//     Table.SetTLSOptions.
//   - h2serve/: the HTTP/2 server of ServeTLS's connections that
//     negotiate h2 (below); h2tls.go: its configuration from Options
//     and its place among the connections Shutdown drains;
//     h2forward.go: HTTP/2 requests without a body forwarded without
//     httputil.ReverseProxy; h2fast.go: those of routers without
//     middlewares, relayed without header maps.
//   - proxy.go, route.go: Proxy, the http.Handler of the net/http path
//     (HTTP/2's streams, and whatever the fast path hands over): refused
//     routers answer 503, middlewares run, then forwardRoute;
//     forwarded.go: the X-Forwarded-* headers both paths set;
//     lifecycle.go: the net/http servers and Shutdown; forward.go: that path's
//     per-attempt backend choice and the retry policy both paths follow;
//     rawtrip.go: its requests without a body go over the fast path's
//     raw backend connections instead of http.Transport (1xx passed on
//     through the trace hook ReverseProxy sets, as the transport does).
//   - balancer.go: backends and the least-outstanding pick;
//     healthcheck.go: active checks; cookie.go: cookie names and values;
//     stats.go: counters and latency histograms (Stats); connlimit.go:
//     the client connection limit (Options.MaxConns).
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
// # The HTTP/1.1 fast path
//
// Serve and ServeTLS do not run net/http's server and client per
// request: that
// machinery (a goroutine for the server connection and two for the
// transport's, headers parsed into maps and cloned, contexts) cost about
// 70 µs of CPU per proxied request against HAProxy's 18 µs. They accept
// connections themselves, one goroutine each (ServeTLS does the TLS
// handshake there first: a client that negotiates h2 by ALPN is served
// by h2serve on that goroutine, see "HTTP/2" below, any other is read
// as HTTP/1.1 through the *tls.Conn), and for each request:
//
//   - reads the head with a small parser over a bufio.Reader (h1head.go):
//     one allocation (the head as a string), header values are
//     substrings; the routing rules read it through rules.Request;
//   - picks a backend as before (sticky cookie, least-outstanding pick,
//     in-flight accounting) and writes the rewritten head to a pooled raw
//     connection: X-Forwarded-* and Host exactly as forwardedHeaders and
//     passhostheader, hop-by-hop headers (and those named in Connection)
//     removed, the body framed as net/http's transport frames it;
//   - streams the body (Content-Length, or chunked with the chunk lines
//     rewritten), inline with the head when already buffered, otherwise
//     from a goroutine so that a backend may answer before it has read
//     everything;
//   - reads the response head, passes 1xx on, adds the sticky
//     Set-Cookie, removes hop-by-hop headers, and streams the body back
//     (Content-Length, chunked passed on chunked, a body delimited by
//     the close re-chunked), flushing whenever the backend has nothing
//     more buffered, so streams stream and small answers go out in one
//     write.
//
// The decision is made per request, on the request's head, before any
// of it is acted on: a request outside the subset the fast path serves
// is handed, with its connection and every byte already read, to a
// net/http server running Proxy.ServeHTTP (through a listener fed by a
// channel), which keeps the connection from then on. Handed over: any
// protocol but HTTP/1.1 (HTTP/1.0, the HTTP/2 preface for h2c, a TLS
// handshake on the plain port), a request whose router has a middleware
// that is not request-only (decided after routing, before anything is
// answered), targets not in origin form (absolute
// form, "*", CONNECT), Upgrade (WebSocket, h2c), Expect (100-continue),
// a missing or repeated Host, unusual framing (repeated Content-Length,
// Content-Length with Transfer-Encoding, a coding other than chunked)
// and anything net/http would refuse (bad names, values, escapes, obsolete
// line folding, bare LF): net/http then serves it, or answers 400, as it
// always did. The fast path answers 431 itself for a head over
// MaxHeaderBytes (plus net/http's 4 KiB slack), and 400 for a malformed
// chunked body. A TLS connection handed over keeps its state:
// net/http's Request.TLS comes from tlsReplayConn.ConnectionState.
//
// Middlewares that act on the request alone (middleware.RequestOnly:
// basicauth, headers with customRequestHeaders only, the path
// middlewares, redirectscheme and redirectregex, ipallowlist, ratelimit,
// inflightreq, and chains of them) run on the fast path
// (h1middleware.go): the head becomes the *http.Request net/http's
// server would have made (path cleaned as cleanRequest, X-Forwarded-*
// set as ServeHTTP sets them), the router's own handler chain runs on
// it, and its terminal, routeTerminal, forwards the request as the
// middlewares left it through the raw forwarder (buildOutRequest writes
// what ReverseProxy and the transport would; a header or Host that is
// not valid on the wire gets 502, as the transport refuses it). An
// answer a middleware writes (401, a redirect, 403, 429) is sent as
// net/http's server sends it (Content-Type sniffed, Content-Length and
// Date). TestFastPathMiddlewaresAnswerAsNetHTTP checks both paths give
// the same answers and send the same requests. One difference: the
// request's context is not cancelled when the client goes away, so a
// ratelimit delay (at most its maxDelay) is waited out.
//
// Timeouts and limits are Options' as on net/http: ReadHeaderTimeout for
// the head, ReadTimeout from the head to the end of the body, IdleTimeout
// between requests, WriteTimeout per response, MaxHeaderBytes,
// MaxBodyBytes (413 from Content-Length, or while a chunked body
// streams). MaxConns bounds the open client connections of both paths
// together (connlimit.go). Shutdown closes idle connections at once, new
// ones after 5s without a request (as net/http), and waits for busy ones,
// which close after their response; then it waits for the net/http
// server's.
//
// A request with both Content-Length and Transfer-Encoding is handed
// over; net/http drops the length and reads the body chunked, and
// ServeHTTP closes the connection after the response (RFC 9112 section
// 6.1), since the sender may have framed the body by the length and what
// follows is not to be trusted as a request. net/http hides which
// requests had both, so on that path every chunked HTTP/1.1 request and
// every HTTP/1.0 request with a body closes its connection
// (uncheckedFraming).
//
// Backend connections are HTTP/1.1 keep-alive (TLS for server.scheme=
// https), at most MaxIdleConnsPerBackend idle per backend, closed after
// IdleConnTimeout idle by a timer, and all closed when the backend
// leaves the table. net/http's transport notices at once, with a reading
// goroutine per connection, that a backend closed an idle connection; the
// fast path instead peeks at the socket (a non-blocking recv with
// MSG_PEEK, one syscall) before reusing one, so that a request, a POST
// above all, is not written to a closed connection. The retry policy is
// forwarder's; as net/http's transport, a request that failed on a
// reused connection before any response byte is sent again on a new
// connection to the same backend when nothing was written, or when it is
// replayable (GET, HEAD, OPTIONS, TRACE, or an Idempotency-Key) with no
// body byte sent and did not time out.
//
// Differences from the net/http path, all deliberate:
//
//   - A client that goes away while the backend prepares its response
//     is noticed, and the backend connection closed, within watchGrace
//     (20ms) of the request being sent, not at once: watching the client
//     takes a goroutine (net/http runs a background read per request),
//     so the fast path starts one (watchClient: a MSG_PEEK wait in the
//     netpoller, consuming nothing) only for a backend silent that long;
//     a normal answer costs no goroutine. The same holds while a
//     response body is awaited (a stream between events, a backend
//     stalled mid-body: bconn.Read, relayWatch). A client leaving while
//     it sends its body is noticed at once by the body copy (logged
//     499), and the watch starts once the body is in. A pipelined
//     request arriving ends the watch. Over TLS the TCP socket under
//     the TLS connection is watched: a client that sends close_notify
//     before its FIN ends the watch as a pipelined request would, and
//     is noticed only when the response is written.
//   - Proxied responses keep the backend's status text and header order;
//     header names are canonicalized as net/http does; the proxy adds no
//     Date and sniffs no Content-Type (net/http's server did both when
//     the backend had not).
//   - Connections are closed, with no response, when a request body stalls
//     past ReadTimeout.
//
// # HTTP/2
//
// A ServeTLS connection that negotiates h2 is served by h2serve, the
// ingress's own HTTP/2 server, built on golang.org/x/net/http2's Framer
// and hpack (framing and header compression are theirs, not ours). It
// replaced net/http's HTTP/2 server, which wrote each response's
// HEADERS and DATA in two flushes (two TLS records, two writes) from a
// goroutine of their own, after a channel handoff per frame; under
// h2load that server cost about 40% of the ingress's CPU. h2serve's
// connection goroutine reads frames; each stream's handler runs on a
// goroutine and writes its frames itself under the connection's write
// lock, holding the head until the body's first chunk, a Flush or the
// handler's return, so a small response is one TLS record and one
// write (TestSmallResponseIsOneWrite).
//
// Every stream runs Proxy.ServeHTTP with h2serve's ResponseWriter
// (Flush, trailers, 1xx), so every route behaves over HTTP/2 as on the
// net/http path: middlewares, h2c and gRPC backends with trailers,
// streaming responses, request bodies through http.Transport. A request
// without a body to an HTTP/1.1 backend takes the raw backend
// connections (rawtrip.go) and skips httputil.ReverseProxy
// (h2forward.go: the same outbound headers, 1xx, hop-by-hop removal,
// trailers, flushing when the length is unknown). When the router has
// no middlewares, such a request takes a fast lane (h2fast.go): the
// same outbound head and attempts (retries, ejection, sticky cookie,
// X-Forwarded-*), the backend's head read by the HTTP/1.1 fast path's
// respHead rather than http.ReadResponse, and, for a response framed
// by Content-Length (or without a body), handed to h2serve as HPACK
// fields (h2serve.FieldsWriter) without header maps, the Header clone,
// or the per-request contexts, traces and request copies of the
// transport path; a chunked or to-EOF response, or trailers, is
// parsed again from its head by http.ReadResponse and relayed as
// h2forward.go relays it. A 101 to these requests (none asks for an
// upgrade) is a 502 on the raw exchanges too, its connection closed, as
// ReverseProxy and the HTTP/1.1 fast path answer it. Its answers are checked against
// forwardLean's, byte for byte of the backend's (TestH2FastSameAnswers,
// TestH2FastPropertySameAnswers). One difference is kept on purpose:
// fields a response's Connection header names are dropped even when it
// also says close, as the HTTP/1.1 fast path drops them, where
// ReadResponse deletes the whole Connection header and forwardLean then
// passes them on. WebSockets over
// HTTP/2 (extended CONNECT, RFC 8441) are not offered, as before:
// browsers open them over HTTP/1.1.
//
// The limits, with h2serve's defaults: 250 concurrent streams (a stream
// past them, or past the handlers still running for reset streams, is
// refused); 200 streams reset by the client, refused, or reset over
// the client's error per second (rapid reset, CVE-2023-44487, and
// MadeYouReset, CVE-2025-8671) and 1000 SETTINGS, PING, PRIORITY or
// empty DATA frames per second, then GOAWAY ENHANCE_YOUR_CALM; the
// header list within MaxHeaderBytes plus 4 KiB (431 past it, the
// connection closed past twice it, and the bytes one header block may
// take on the wire capped, for CONTINUATION floods, CVE-2024-27316);
// receive windows of 256 KiB per stream and 1 MiB per connection, the
// most a connection buffers of request bodies; responses written
// within the client's windows, at most a frame per stream buffered for
// a client that does not read (1 MiB of such chunks per connection),
// and a stream whose windows stay shut, or open by less than 4 KiB, for
// WriteTimeout reset; the decoded header lists of a connection's running
// requests within 4 times the limit of one (HPACK amplification); the
// preface within the head timeout,
// IdleTimeout from the last stream's end (PINGs do not extend it),
// ReadTimeout for each request body, a write deadline on every write
// (WriteTimeout, or 30s); MaxBodyBytes as on the other paths (413).
// What becomes an HTTP/1.1 request line is checked as net/http's
// HTTP/2 server checks it and more: a :method that is not a token, a
// :path with a space, a :scheme other than http(s), an invalid
// :authority or one that differs from Host make the request malformed
// (RST_STREAM PROTOCOL_ERROR), and rawtrip.go refuses such a request
// from the h2c path too. Shutdown sends GOAWAY, lets the
// streams in flight finish, then closes (TestHTTP2GracefulShutdown).
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
//   - Fail closed. Unknown options under traefik.http.* are errors, as
//     Traefik's label decoder refuses them, and so are options Traefik
//     has that shoal cannot honour (TLS, TCP/UDP routers, unimplemented
//     middlewares, servers transports, some health-check options, v1
//     labels): a deploy refuses them, and a running service that has
//     them (another client, an older version) gets every router it
//     could read answering 503 with the labels named. Only labels whose
//     effect the ingress already has, or that cannot apply (weights,
//     strategy, traefik.docker.network, constraint labels), are accepted
//     without effect and listed in ServiceRoutes.Ignored, with why: the
//     stack plan warns of them and the table logs them. An invalid
//     sameSite is an error (Traefik silently omits the attribute).
//   - Entry points, as Traefik's: web (Serve) and websecure (ServeTLS,
//     the certificate chosen by SNI). A router with tls=true (or any
//     tls.* option) takes only requests that came over TLS, the others
//     only plain ones, on both paths. ACME is refused. TLS options are
//     Traefik's (tlsoptions.go): defined in the nodes' file, named by
//     routers, chosen per handshake by SNI as Traefik chooses them
//     (default for hosts whose routers disagree, logged); a router
//     naming options its node lacks answers 503 naming the label, since
//     the managers that check a deploy do not know the nodes' files.
//   - stripprefix and stripprefixregex remove a prefix only where a path
//     segment ends (Traefik also strips /api from /apiadmin): a public
//     PathPrefix(`/api`) and a protected PathPrefix(`/api/admin`) that
//     share stripprefix /api would otherwise give the task /admin for
//     /apiadmin, past the protected router's auth.
//   - A router's middleware is its service's or, as in Traefik's
//     provider namespace, another service's (labelshared.go), built
//     anew for each service that names it; middlewares run
//     after the X-Forwarded-* headers are set (as behind Traefik's entry
//     point), so they see and may override them; the peer is appended to
//     X-Forwarded-For after them, as Traefik's proxy does, so that
//     ipStrategy.depth counts the same hops. Their state (rate limits,
//     requests in flight) lives as long as the service's labels.
//   - Balancing is least-outstanding-requests with a round-robin
//     tie-break; see pool.pick for the measurement against SWRR.
//   - Retries: see forwarder. In short, any request is retried on another
//     backend when nothing reached the first (dial failed); after that,
//     only an idempotent request with an unread body and no response
//     byte, and never after a timeout.
//   - Backends' response heads have DefaultResponseHeaderTimeout (60s;
//     Traefik waits forever) on both paths, then 504; a backend that
//     times out is ejected for EjectTime, as one refusing connections.
//     docs/ingress.md says what happens to a paused task.
//   - Backend connections idle out after 4s (TableOptions.IdleConnTimeout)
//     so the proxy, not a backend with a 5s keep-alive, closes them.
//   - Clients: HTTP/1.1 keep-alive; HTTP/2 with TLS (ServeTLS, on
//     h2serve); cleartext
//     HTTP/2 (h2c, prior knowledge) only with Options.H2C, since it is
//     meant for a trusted hop behind another proxy. Backends: HTTP/1.1,
//     or h2c (server.scheme=h2c, for gRPC and grpcweb) through the
//     backend's http.Transport on the net/http path only.
//   - Request paths, as Traefik v3's entry points (sanitizePath on,
//     encoded slash and backslash refused): a request is routed and
//     forwarded on its path with "." and ".." segments and repeated
//     slashes removed and escapes of unreserved characters decoded, other
//     escapes kept (hex upper-cased), the query untouched; a path with
//     %2F or %5C (or a raw backslash) is answered 400 unless
//     Options.AllowEncodedSlash / AllowEncodedBackslash, and then is sent
//     on encoded, inside its segment. Other escapes Traefik can refuse
//     (%00, %25, %3B, %3F, %23) are sent on: they separate nothing in a
//     path. The rule is pathRule.clean, called by reqHead.cleanPath on
//     the fast path and pathRule.cleanRequest on the net/http path; it
//     allocates nothing for a path that is already clean. A path over
//     8 KiB or a host over 1 KiB is answered 400 there too (maxPathBytes,
//     maxHostBytes): the rules' regular expressions cost their input's
//     length times their size. HeaderRegexp and QueryRegexp read at most
//     rules.MaxRegexpInput of a header's or parameter's values; a rule
//     that would read more does not match. The host is
//     the Host header, or an absolute-form target's host, which net/http
//     (the fast path hands absolute form over) puts in Request.Host:
//     the backend gets that same Host (passHostHeader).
//   - X-Forwarded-* from clients are replaced (X-Forwarded-Uri, -Method,
//     -Prefix, -Scheme, -Tls-Client-Cert, -Tls-Client-Cert-Info, X-Scheme
//     and the underscore forms of every forwarding header removed:
//     trustedOnlyHeader) unless the client is in Options.TrustedProxies
//     (Traefik's forwardedHeaders.trustedIPs), on all three paths. A
//     Connection header cannot name them as hop-by-hop, and the headers
//     it names go before the middlewares run (keepForwarding).
//   - Counters are lock-free cells by code, method and protocol
//     (reqcount.go), read by Stats and, under Traefik's metric names, by
//     Table.Collector (metrics.go).
//
// # Benchmarks
//
// bench/proxy compares the ingress with HAProxy 2.6 (wrk and h2load,
// small keep-alive GETs: plain, sticky, middlewares, TLS over HTTP/1.1
// and HTTP/2); docs/benchmarks.md has the figures,
// the command, and what is not measured yet (open-loop load, large
// bodies, 1 and 8 backends, no keep-alive, a 1,000-router table, a
// rolling update next to HAProxy reloaded by its runtime API).
// BenchmarkProxyLoopback measures one request in-process over loopback,
// with allocations.
package ingress
