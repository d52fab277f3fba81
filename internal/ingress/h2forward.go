package ingress

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
)

// The HTTP/2 requests that rawtrip.go sends over the raw backend
// connections (no body, no upgrade, an HTTP/1.1 backend) skip
// httputil.ReverseProxy as well: forwardLean does what ReverseProxy
// does for them (the outbound request's headers, 1xx passed on, the
// response's hop-by-hop headers removed, the body copied, flushed as it
// comes when its length is unknown, trailers) without its request clone
// and per-request hooks. Requests with a body, upgrades and h2c
// backends keep ReverseProxy.

// leanEligible reports whether forwardLean takes r for pool pl.
func leanEligible(r *http.Request, pl *pool) bool {
	return r.ProtoMajor == 2 && pl.lb.Scheme != "h2c" && rawEligible(r)
}

// forwardLean is ReverseProxy.ServeHTTP with p.rewrite and
// p.modifyResponse for a request leanEligible takes.
func (p *Proxy) forwardLean(w http.ResponseWriter, r *http.Request, st *reqState) {
	out := r.WithContext(httptrace.WithClientTrace(context.WithValue(r.Context(), stateKey{}, st), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
			h := w.Header()
			for k, vs := range header {
				h[k] = append(h[k], vs...)
			}
			w.WriteHeader(code)
			clear(h)
			return nil
		},
	}))
	h := outboundHeader(r) // h2fast.go
	out.Header = h
	out.Body, out.ContentLength, out.Close = nil, 0, false
	u := *r.URL
	u.Scheme, u.Host = st.pool.lb.urlScheme(), st.pool.name
	out.URL = &u
	p.rewriteHeaders(r, h, st)

	resp, err := p.rp.Transport.RoundTrip(out)
	if err != nil {
		p.proxyError(w, out, err)
		return
	}
	defer resp.Body.Close()
	resp.Request = out
	_ = p.modifyResponse(resp)
	p.relayResponse(w, resp)
}

// relayResponse writes resp to w as ReverseProxy does: its head less
// the hop-by-hop fields, its body (flushed as it comes when its length
// is unknown) and its trailers.
func (p *Proxy) relayResponse(w http.ResponseWriter, resp *http.Response) {
	removeHopHeaders(resp.Header)
	dst := w.Header()
	for k, vs := range resp.Header {
		dst[k] = append(dst[k], vs...)
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst.Add("Trailer", strings.Join(names, ", "))
	}
	w.WriteHeader(resp.StatusCode)
	if err := copyBody(w, resp.Body, resp.ContentLength == -1 || isEventStream(resp)); err != nil {
		if errors.Is(err, errBackendBody) {
			// As ReverseProxy: the client must not take a truncated
			// body for a whole one; the stream is reset.
			panic(http.ErrAbortHandler)
		}
		return
	}
	if len(resp.Trailer) == announced {
		for k, vs := range resp.Trailer {
			dst[k] = vs
		}
		return
	}
	for k, vs := range resp.Trailer {
		dst[http.TrailerPrefix+k] = vs
	}
}

// removeHopHeaders removes a response's hop-by-hop headers and those its
// Connection header names, as ReverseProxy does.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for _, k := range strings.Split(v, ",") {
			if k = textproto.TrimString(k); k != "" {
				delete(h, http.CanonicalHeaderKey(k))
			}
		}
	}
	for _, k := range hopHeaders {
		if k != "Forwarded" {
			delete(h, k)
		}
	}
}

func isEventStream(resp *http.Response) bool {
	ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return ct == "text/event-stream"
}

// errBackendBody is a response body that failed while read.
var errBackendBody = errors.New("ingress: reading the backend's response body")

// copyBody copies a response body to w, flushing after each read when
// flush is set.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if flush {
				_ = http.NewResponseController(w).Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return errors.Join(errBackendBody, rerr)
		}
	}
}
