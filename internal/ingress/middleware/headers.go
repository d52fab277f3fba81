package middleware

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// headers: custom request and response headers (an empty value removes
// the header), CORS (accessControl*: preflight requests are answered
// here) and the security headers of Traefik v3's headers middleware.
type headers struct {
	reqHeaders, respHeaders []Option // Key is the header name
	// CORS
	cors          bool
	allowCreds    bool
	allowHeaders  string
	allowMethods  string
	originList    []string
	originRegexes []*regexp.Regexp
	exposeHeaders string
	maxAge        string
	addVary       bool
	// security headers, set on every response
	secure []Option
	sts    string
	// forceSTS sends Strict-Transport-Security on plain HTTP too.
	forceSTS bool
}

// headersRemoved are Traefik v2 options v3 dropped, and what replaces
// them.
var headersRemoved = map[string]string{
	"sslredirect":              "removed in Traefik v3: use a redirectscheme middleware (scheme=https)",
	"ssltemporaryredirect":     "removed in Traefik v3: use a redirectscheme middleware (scheme=https)",
	"sslhost":                  "removed in Traefik v3: use a redirectregex middleware",
	"sslforcehost":             "removed in Traefik v3: use a redirectregex middleware",
	"featurepolicy":            "removed in Traefik v3: use permissionsPolicy",
	"accesscontrolalloworigin": "removed in Traefik v3: use accessControlAllowOriginList",
}

// headersUnsupported are Traefik v3 options shoal does not act on.
var headersUnsupported = []string{"allowedHosts", "hostsProxyHeaders", "sslProxyHeaders", "publicKey", "isDevelopment"}

func newHeaders(o *options) Middleware {
	h := &headers{}
	for _, op := range o.opts {
		first, _, _ := strings.Cut(op.Key, ".")
		if msg, ok := headersRemoved[strings.ToLower(first)]; ok {
			o.get(op.Key)
			o.fail(op.Key, "%s", msg)
		}
	}
	for _, k := range headersUnsupported {
		if _, ok := o.get(k); ok {
			o.fail(k, "not supported by shoal's ingress")
		}
	}
	h.reqHeaders = o.headerMap("customRequestHeaders")
	h.respHeaders = o.headerMap("customResponseHeaders")

	h.allowCreds = o.boolean("accessControlAllowCredentials")
	h.allowHeaders = o.headerValue("accessControlAllowHeaders", strings.Join(o.list("accessControlAllowHeaders"), ","))
	h.allowMethods = o.headerValue("accessControlAllowMethods", strings.Join(o.list("accessControlAllowMethods"), ","))
	h.originList = o.list("accessControlAllowOriginList")
	for _, s := range o.list("accessControlAllowOriginListRegex") {
		if re := o.regexp("accessControlAllowOriginListRegex", s); re != nil {
			h.originRegexes = append(h.originRegexes, re)
		}
	}
	h.exposeHeaders = o.headerValue("accessControlExposeHeaders", strings.Join(o.list("accessControlExposeHeaders"), ","))
	_, hasMaxAge := o.get("accessControlMaxAge")
	h.maxAge = strconv.FormatInt(o.integer("accessControlMaxAge", 0, 0), 10)
	h.addVary = o.boolean("addVaryHeader")
	h.cors = h.allowCreds || h.allowHeaders != "" || h.allowMethods != "" || len(h.originList) > 0 ||
		len(h.originRegexes) > 0 || h.exposeHeaders != "" || hasMaxAge

	subdomains, preload := o.boolean("stsIncludeSubdomains"), o.boolean("stsPreload")
	if n := o.integer("stsSeconds", 0, 0); n > 0 {
		h.sts = "max-age=" + strconv.FormatInt(n, 10)
		if subdomains {
			h.sts += "; includeSubDomains"
		}
		if preload {
			h.sts += "; preload"
		}
	}
	h.forceSTS = o.boolean("forceSTSHeader")
	set := func(name, key, value string) {
		if value = o.headerValue(key, value); value != "" {
			h.secure = append(h.secure, Option{Key: name, Value: value})
		}
	}
	// customOr is the custom option's value, or flagValue when only the
	// flag is set.
	customOr := func(custom, flag, flagValue string) string {
		v, on := o.str(custom, ""), o.boolean(flag)
		if v == "" && on {
			return flagValue
		}
		return v
	}
	set("X-Frame-Options", "customFrameOptionsValue", customOr("customFrameOptionsValue", "frameDeny", "DENY"))
	if o.boolean("contentTypeNosniff") {
		set("X-Content-Type-Options", "", "nosniff")
	}
	set("X-Xss-Protection", "customBrowserXSSValue", customOr("customBrowserXSSValue", "browserXssFilter", "1; mode=block"))
	set("Content-Security-Policy", "contentSecurityPolicy", o.str("contentSecurityPolicy", ""))
	set("Content-Security-Policy-Report-Only", "contentSecurityPolicyReportOnly", o.str("contentSecurityPolicyReportOnly", ""))
	set("Referrer-Policy", "referrerPolicy", o.str("referrerPolicy", ""))
	set("Permissions-Policy", "permissionsPolicy", o.str("permissionsPolicy", ""))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.serve(w, r, next)
		})
	}
}

// headerMap reads NAME.HEADER=value options; header names are
// canonicalized.
func (o *options) headerMap(prefix string) []Option {
	var out []Option
	for _, op := range o.under(prefix) {
		if strings.Contains(op.Key, ".") || !validHeaderName(op.Key) {
			o.fail(prefix+"."+op.Key, "%q is not a header name", op.Key)
			continue
		}
		v := o.headerValue(prefix+"."+op.Key, strings.TrimSpace(op.Value))
		out = append(out, Option{Key: http.CanonicalHeaderKey(op.Key), Value: v})
	}
	return out
}

// headerValue refuses a value net/http would not send (a line break or
// another control character but tab), naming the option key.
func (o *options) headerValue(key, v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			o.fail(key, "a header value may not hold a line break or another control character")
			return ""
		}
	}
	return v
}

// headerNames reads a list of header names, canonicalized.
func (o *options) headerNames(key string) []string {
	var out []string
	for _, h := range o.list(key) {
		if !validHeaderName(h) {
			o.fail(key, "%q is not a header name", h)
			continue
		}
		out = append(out, http.CanonicalHeaderKey(h))
	}
	return out
}

// headerName reads an option naming a header, canonicalized.
func (o *options) headerName(key string) string {
	v := o.str(key, "")
	if v != "" && !validHeaderName(v) {
		o.fail(key, "%q is not a header name", v)
		return ""
	}
	return http.CanonicalHeaderKey(v)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func (h *headers) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	origin := r.Header.Get("Origin")
	if h.cors && r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		h.preflight(w, origin)
		return
	}
	for _, op := range h.reqHeaders {
		switch {
		case op.Value == "":
			r.Header.Del(op.Key)
		case op.Key == "Host":
			r.Host = op.Value
		default:
			r.Header.Set(op.Key, op.Value)
		}
	}
	if len(h.secure) == 0 && h.sts == "" && len(h.respHeaders) == 0 && !h.cors {
		// Nothing to add to the response (RequestOnly): the writer is
		// not wrapped.
		next.ServeHTTP(w, r)
		return
	}
	next.ServeHTTP(&headerWriter{ResponseWriter: w, modify: func(rh http.Header) { h.response(rh, r, origin) }}, r)
}

// preflight answers a CORS preflight request itself, as Traefik.
func (h *headers) preflight(w http.ResponseWriter, origin string) {
	rh := w.Header()
	if h.allowCreds {
		rh.Set("Access-Control-Allow-Credentials", "true")
	}
	if h.allowHeaders != "" {
		rh.Set("Access-Control-Allow-Headers", h.allowHeaders)
	}
	if h.allowMethods != "" {
		rh.Set("Access-Control-Allow-Methods", h.allowMethods)
	}
	if ok, v := h.originAllowed(origin); ok {
		rh.Set("Access-Control-Allow-Origin", v)
	}
	rh.Set("Access-Control-Max-Age", h.maxAge)
	w.WriteHeader(http.StatusOK)
}

func (h *headers) originAllowed(origin string) (bool, string) {
	for _, o := range h.originList {
		if o == "*" || o == origin {
			return true, o
		}
	}
	for _, re := range h.originRegexes {
		if re.MatchString(origin) {
			return true, origin
		}
	}
	return false, ""
}

// response sets the response's headers as the backend's head passes.
func (h *headers) response(rh http.Header, r *http.Request, origin string) {
	for _, op := range h.secure {
		rh.Set(op.Key, op.Value)
	}
	if h.sts != "" && (r.TLS != nil || h.forceSTS) {
		rh.Set("Strict-Transport-Security", h.sts)
	}
	for _, op := range h.respHeaders {
		if op.Value == "" {
			rh.Del(op.Key)
		} else {
			rh.Set(op.Key, op.Value)
		}
	}
	if !h.cors {
		return
	}
	if ok, v := h.originAllowed(origin); ok {
		rh.Set("Access-Control-Allow-Origin", v)
	}
	if h.allowCreds {
		rh.Set("Access-Control-Allow-Credentials", "true")
	}
	if h.exposeHeaders != "" {
		rh.Set("Access-Control-Expose-Headers", h.exposeHeaders)
	}
	if h.addVary {
		switch v := rh.Get("Vary"); v {
		case "Origin":
		case "":
			rh.Set("Vary", "Origin")
		default:
			rh.Set("Vary", v+",Origin")
		}
	}
}

// headerWriter calls modify on the header map just before the final
// response's head is written.
type headerWriter struct {
	http.ResponseWriter
	modify func(http.Header)
	done   bool
}

func (w *headerWriter) WriteHeader(code int) {
	if !w.done && code >= 200 {
		w.done = true
		w.modify(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *headerWriter) Flush() {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
