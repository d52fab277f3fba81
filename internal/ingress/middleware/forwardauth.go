package middleware

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// forwardauth: every request is first sent (its headers, not its body)
// to address; a 2xx answer lets it through, with authResponseHeaders
// copied from that answer into the request; any other answer (a 401, a
// redirect to a login page) is sent to the client as it is. An auth
// server that cannot be reached answers 500: never through. Options:
// address (required), trustForwardHeader, authRequestHeaders,
// authResponseHeaders, authResponseHeadersRegex,
// addAuthCookiesToResponse, preserveLocationHeader,
// preserveRequestMethod. Refused: tls.*, forwardBody, maxBodySize,
// headerField.
type forwardAuth struct {
	address        *url.URL
	trust          bool
	reqHeaders     []string // canonical; empty forwards all
	respHeaders    []string
	respRegex      *regexp.Regexp
	cookies        []string
	keepLocation   bool
	preserveMethod bool
	client         *http.Client
	next           http.Handler
}

// forwardAuthTimeout bounds one call to the auth server (Traefik's).
const forwardAuthTimeout = 30 * time.Second

// hopHeaders are removed from what goes to and comes from the auth
// server (RFC 9110 section 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func newForwardAuth(o *options) Middleware {
	fa := &forwardAuth{}
	addr := o.str("address", "")
	if o.required("address", addr) {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			o.fail("address", "%q is not an http or https URL", addr)
		}
		fa.address = u
	}
	for _, k := range []string{"forwardBody", "maxBodySize", "headerField"} {
		if _, ok := o.get(k); ok {
			o.fail(k, "not supported yet by shoal's ingress")
		}
	}
	for _, op := range o.under("tls") {
		o.fail("tls."+op.Key, "not supported yet: the auth server is verified against the node's roots")
	}
	fa.trust = o.boolean("trustForwardHeader")
	fa.reqHeaders = o.headerNames("authRequestHeaders")
	fa.respHeaders = o.headerNames("authResponseHeaders")
	if v := o.str("authResponseHeadersRegex", ""); v != "" {
		fa.respRegex = o.regexp("authResponseHeadersRegex", v)
	}
	fa.cookies = o.list("addAuthCookiesToResponse")
	fa.keepLocation = o.boolean("preserveLocationHeader")
	fa.preserveMethod = o.boolean("preserveRequestMethod")
	fa.client = &http.Client{
		Timeout: forwardAuthTimeout,
		// One connection per check, so that a middleware dropped with
		// its service spec leaves nothing open.
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(next http.Handler) http.Handler {
		f := *fa
		f.next = next
		return &f
	}
}

func (fa *forwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := http.MethodGet
	if fa.preserveMethod {
		method = r.Method
	}
	areq, err := http.NewRequestWithContext(r.Context(), method, fa.address.String(), nil)
	if err != nil {
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	fa.writeHeader(r, areq)
	resp, err := fa.client.Do(areq)
	if err != nil {
		http.Error(w, "500 Internal Server Error: the authentication server cannot be reached", http.StatusInternalServerError)
		return
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = append([]string(nil), v...)
		}
		for _, k := range hopHeaders {
			h.Del(k)
		}
		h.Del("Content-Length")
		if loc := resp.Header.Get("Location"); loc != "" && !fa.keepLocation {
			if u, err := resp.Request.URL.Parse(loc); err == nil {
				h.Set("Location", u.String())
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	// Let through: the auth server's connection goes now, not when the
	// backend is done (a stream may last hours); its body is not used.
	resp.Body.Close()
	for _, k := range fa.respHeaders {
		r.Header.Del(k)
		if v := resp.Header.Values(k); len(v) > 0 {
			r.Header[k] = append([]string(nil), v...)
		}
	}
	if fa.respRegex != nil {
		for k := range r.Header {
			if fa.respRegex.MatchString(k) {
				delete(r.Header, k)
			}
		}
		for k, v := range resp.Header {
			if fa.respRegex.MatchString(k) {
				r.Header[k] = append([]string(nil), v...)
			}
		}
	}
	if len(fa.cookies) == 0 {
		fa.next.ServeHTTP(w, r)
		return
	}
	var add []string
	for _, c := range resp.Cookies() {
		if containsFold(fa.cookies, c.Name) {
			add = append(add, c.String())
		}
	}
	fa.next.ServeHTTP(&headerWriter{ResponseWriter: w, modify: func(h http.Header) {
		for _, c := range add {
			h.Add("Set-Cookie", c)
		}
	}}, r)
}

// writeHeader sets the auth request's headers as Traefik's forwardauth:
// the client's (all, or authRequestHeaders) without hop-by-hop ones, and
// X-Forwarded-For/Method/Proto/Host/Uri/Port describing the request
// (the client's own kept with trustForwardHeader).
func (fa *forwardAuth) writeHeader(r, areq *http.Request) {
	h := areq.Header
	if len(fa.reqHeaders) == 0 {
		for k, v := range r.Header {
			h[k] = append([]string(nil), v...)
		}
		for _, c := range r.Header.Values("Connection") {
			for _, k := range strings.Split(c, ",") {
				h.Del(strings.TrimSpace(k))
			}
		}
		for _, k := range hopHeaders {
			h.Del(k)
		}
	} else {
		for _, k := range fa.reqHeaders {
			if v := r.Header.Values(k); len(v) > 0 {
				h[k] = append([]string(nil), v...)
			}
		}
	}
	set := func(k, own string) {
		if v := r.Header.Get(k); fa.trust && v != "" {
			h.Set(k, v)
		} else if own != "" {
			h.Set(k, own)
		} else {
			h.Del(k)
		}
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	// As Traefik: the client's address, after the hops of
	// X-Forwarded-For with trustForwardHeader (the ingress kept them only
	// from a trusted proxy).
	if prior := r.Header.Values("X-Forwarded-For"); fa.trust && len(prior) > 0 {
		h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
	} else {
		h.Set("X-Forwarded-For", ip)
	}
	set("X-Forwarded-Method", r.Method)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	set("X-Forwarded-Proto", proto)
	set("X-Forwarded-Host", r.Host)
	set("X-Forwarded-Uri", r.URL.RequestURI())
	if !fa.trust {
		h.Del("X-Forwarded-Port")
	}
}
