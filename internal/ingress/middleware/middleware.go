// Package middleware holds the Traefik v3 HTTP middlewares shoal's
// ingress applies to a router's requests: each a small http.Handler
// wrapper in its own file, built once from its label options (New) with
// Traefik's option names and defaults.
//
// A middleware type Traefik has and this package does not implement is
// refused by New with a message saying so: the ingress fails closed, it
// never serves a router whose middlewares it cannot apply.
package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Middleware wraps the handler of the next step (another middleware, or
// the proxy) with one middleware.
type Middleware func(next http.Handler) http.Handler

// Option is one option of a middleware, from one label.
type Option struct {
	// Key is the option's path below the middleware type as written in
	// the label (case kept, since a header name may be part of it), for
	// example "users" or "customRequestHeaders.X-Script-Name". Empty for
	// a type with no option (traefik.http.middlewares.NAME.compress=true).
	Key   string
	Value string
}

// OptionError is a problem with one option of a middleware; Key is empty
// for the middleware as a whole.
type OptionError struct {
	Key string
	Msg string
}

func (e *OptionError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return "option " + e.Key + ": " + e.Msg
}

// Files reads a file an option names (basicauth's and digestauth's
// usersFile), by the path written in the label.
type Files func(path string) ([]byte, error)

// ErrNotRead is what Files answers for a file that exists but whose
// content is not at hand (the managers checking labels): the middleware
// checks everything else.
var ErrNotRead = errors.New("the file is not read here")

type builder func(o *options) Middleware

// builders are the implemented types, by lower-cased Traefik name.
var builders = map[string]builder{
	"addprefix":         newAddPrefix,
	"basicauth":         newBasicAuth,
	"buffering":         newBuffering,
	"circuitbreaker":    newCircuitBreaker,
	"compress":          newCompress,
	"contenttype":       newContentType,
	"digestauth":        newDigestAuth,
	"forwardauth":       newForwardAuth,
	"grpcweb":           newGRPCWeb,
	"headers":           newHeaders,
	"inflightreq":       newInFlightReq,
	"passtlsclientcert": newPassTLSClientCert,
	"ipallowlist":       newIPAllowList,
	"ratelimit":         newRateLimit,
	"redirectregex":     newRedirectRegex,
	"redirectscheme":    newRedirectScheme,
	"replacepath":       newReplacePath,
	"replacepathregex":  newReplacePathRegex,
	"stripprefix":       newStripPrefix,
	"stripprefixregex":  newStripPrefixRegex,
}

// unsupported are Traefik v3 types (and v2 names) not implemented, with
// what to do instead where there is something.
var unsupported = map[string]string{
	"plugin":      "plugins cannot be loaded",
	"ipwhitelist": "it is Traefik v2's name; use ipallowlist",
}

// Types lists the implemented middleware types (and chain, errors and retry,
// which the ingress builds itself), sorted.
func Types() []string {
	out := []string{"chain", "errors", "retry"}
	for t := range builders {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// New builds a middleware of type typ (Traefik's name, any case) from its
// options. The error joins every problem, each an *OptionError. An
// option that names a file is refused.
func New(typ string, opts []Option) (Middleware, error) { return NewWithFiles(typ, opts, nil) }

// NewWithFiles is New with the files options name read by files.
func NewWithFiles(typ string, opts []Option, files Files) (Middleware, error) {
	t := strings.ToLower(typ)
	b, ok := builders[t]
	if !ok {
		if hint, known := unsupported[t]; known {
			msg := fmt.Sprintf("middleware type %s is not supported by shoal's ingress", typ)
			if hint != "" {
				msg += ": " + hint
			}
			return nil, &OptionError{Msg: msg}
		}
		return nil, &OptionError{Msg: fmt.Sprintf("unknown middleware type %q (supported: %s)", typ, strings.Join(Types(), ", "))}
	}
	o := newOptions(opts)
	o.files = files
	m := b(o)
	if err := o.finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// Chain applies ms in order: the first sees the request first.
func Chain(ms ...Middleware) Middleware {
	return func(next http.Handler) http.Handler {
		for i := len(ms) - 1; i >= 0; i-- {
			next = ms[i](next)
		}
		return next
	}
}

// RequestOnly reports whether a middleware of type typ with opts acts on
// the request alone: it changes the request, or answers it itself, and
// neither wraps the response writer nor reads the body. The ingress's
// HTTP/1.1 fast path runs these itself (with a writer that takes only a
// middleware's own answer); a router with any other goes to the net/http
// path. headers is one only with customRequestHeaders alone.
func RequestOnly(typ string, opts []Option) bool {
	switch strings.ToLower(typ) {
	case "addprefix", "basicauth", "inflightreq", "ipallowlist", "ratelimit", "redirectregex",
		"redirectscheme", "replacepath", "replacepathregex", "stripprefix", "stripprefixregex":
		return true
	case "headers":
		for _, o := range opts {
			if first, _, _ := strings.Cut(o.Key, "."); !strings.EqualFold(first, "customRequestHeaders") {
				return false
			}
		}
		return true
	}
	return false
}
