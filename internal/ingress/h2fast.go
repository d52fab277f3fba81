package ingress

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shoalproject/shoal/internal/ingress/h2serve"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 forward's fast lane: a request forwardLean would take
// (no body, an HTTP/1.1 backend), answered by h2serve's writer, is
// sent by forwardFast instead. It writes the same request head as the
// raw exchange (rawtrip.go), with the same attempts and retries as
// forwarder.RoundTrip, but reads the backend's head with the HTTP/1.1
// fast path's parser (respHead, no http.ReadResponse header map), and
// hands it to h2serve as HPACK fields (no header maps, no Header clone,
// no per-request context, trace or request copies). A response whose
// body is not framed by Content-Length (chunked, to the connection's
// end) or that announces trailers is parsed again from its head by
// http.ReadResponse and relayed as forwardLean relays it; a 101 (the
// request asked for no upgrade) is a 502, as on every path.

// h2exchange is a fast forward's reusable state.
type h2exchange struct {
	rh    respHead
	in    *http.Request
	head  []byte // the outbound head, when appendFastHead wrote it
	lower []byte // the response head with its names in lower case
	fc    fastConn
	body  exactReader
	out   http.Request
	u     url.URL
}

var h2exchanges = sync.Pool{New: func() any { return &h2exchange{} }}

// h2FieldsWriter returns the h2serve writer beneath w when forwardFast may
// answer on it.
func h2FieldsWriter(w http.ResponseWriter) (*recorder, h2serve.FieldsWriter, bool) {
	rec, ok := w.(*recorder)
	if !ok {
		return nil, nil, false
	}
	fw, ok := rec.ResponseWriter.(h2serve.FieldsWriter)
	return rec, fw, ok
}

// forwardFast is forwardLean for a response written through h2serve's
// FieldsWriter; false, having done nothing, when it does not take r.
func (p *Proxy) forwardFast(w http.ResponseWriter, r *http.Request, st *reqState) bool {
	rec, fw, ok := h2FieldsWriter(w)
	fwd, _ := p.rp.Transport.(*forwarder)
	// st.forwarded: the router has middlewares (they may pass w through
	// untouched), whose X-Forwarded-* and other request headers
	// appendFastHead would replace or drop; and the fields would not
	// carry what they set in w.Header().
	if !ok || fwd == nil || fwd.transportOnly || p.noH2Fast || st.forwarded || st.maxAttempts > 0 || st.retryInterval > 0 || !requestLineSendable(r) {
		return false
	}
	p.h2fast.Add(1)
	x := h2exchanges.Get().(*h2exchange)
	defer func() {
		x.out, x.in = http.Request{}, nil
		if cap(x.head) > 64<<10 {
			x.head = nil
		}
		if cap(x.lower) > 64<<10 {
			x.lower = nil
		}
		x.fc, x.body = fastConn{}, exactReader{}
		x.u = url.URL{}
		if cap(x.rh.buf) > 64<<10 {
			x.rh.buf = nil
		}
		h2exchanges.Put(x)
	}()
	out := &x.out
	*out = *r
	x.in = r
	out.Header = nil // built by outboundMap when appendFastHead leaves the head to it
	out.Body, out.ContentLength, out.Close = nil, 0, false
	x.u = *r.URL
	out.URL = &x.u
	out.URL.Scheme = st.pool.lb.urlScheme()

	b, stop, err := p.attemptsFast(fwd, out, r.Host, st, x, rec)
	if err != nil {
		p.proxyErrorState(w, out, st, err)
		return true
	}
	st.chosen = b
	rh := &x.rh
	st.status = rh.code
	if rh.trailers() || rh.chunked || !(rh.contentLength >= 0 || noBody(out, rh.code)) {
		p.relayParsed(w, out, st, b, stop, rh)
		return true
	}
	p.relayFast(rec, fw, out, st, b, stop, x)
	return true
}

// outboundHeader is the outbound request's header map of forwardLean
// and the fast lane.
func outboundHeader(r *http.Request) http.Header {
	h := make(http.Header, len(r.Header)+6)
	for k, vs := range r.Header {
		// As ReverseProxy: hop-by-hop headers (HTTP/2 has no Connection
		// header to name more) and, with a Rewrite hook, the forwarding
		// headers that rewrite sets.
		switch k {
		case "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			continue
		}
		if !containsString(hopHeaders, k) {
			h[k] = vs
		}
	}
	if v := r.Header["Te"]; len(v) == 1 && v[0] == "trailers" {
		h["Te"] = v
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // net/http would send its own
	}
	return h
}

// noBody reports whether the response to out with code has no body.
func noBody(out *http.Request, code int) bool {
	return out.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
}

// trailers reports whether the head announces trailers.
func (rh *respHead) trailers() bool {
	for _, f := range rh.spans {
		if f.kind == kindTrailer {
			return true
		}
	}
	return false
}

// attemptsFast is forwarder.RoundTrip and backend.roundTrip for out:
// the same backends tried, retries and ejections. On success x.rh holds
// the final head, the backend connection's exchange is open (stop ends
// its watch of the client), and the caller owns the connection through
// finishFast.
func (p *Proxy) attemptsFast(f *forwarder, out *http.Request, host string, st *reqState, x *h2exchange, rec *recorder) (*backend, *fastConn, error) {
	maxAttempts := f.maxAttempts
	pl := st.pool
	var lastErr error
	for {
		b := pl.next(st.tried, st.preferred, maxAttempts)
		if b == nil {
			if lastErr != nil {
				return nil, nil, lastErr
			}
			return nil, nil, errNoBackend
		}
		if len(st.tried) > 0 {
			st.retries++
			pl.stats.retries.Add(1)
		}
		st.tried = append(st.tried, b)
		b.inflight.Add(1)
		out.URL.Host = b.addr
		out.Host = ""
		if pl.lb.PassHostHeader {
			out.Host = host
		}
		fc, gotConn, err := p.roundTripFast(b, out, st, x, rec)
		if err == nil {
			return b, fc, nil
		}
		b.inflight.Add(-1)
		lastErr = err
		ctxErr := out.Context().Err()
		switch {
		case ctxErr != nil:
			return nil, nil, err
		case isDialError(err) || !gotConn:
			b.eject(f.ejectTime)
			continue
		case isTimeout(err):
			b.eject(f.ejectTime)
			return nil, nil, err
		case !idempotent(out.Method):
			return nil, nil, err
		}
	}
}

// fastConn is a backend connection whose response is being relayed.
type fastConn struct {
	bc   *bconn
	stop func() bool
}

// finish ends the exchange as rawBody.finish does.
func (fc *fastConn) finish(whole, keep bool) {
	if fc.stop() && whole && keep {
		fc.bc.pool.put(fc.bc, time.Now())
		return
	}
	fc.bc.close()
}

// roundTripFast is backend.roundTrip's raw exchange, the head read into
// x.rh; gotConn reports that a connection was obtained.
func (p *Proxy) roundTripFast(b *backend, out *http.Request, st *reqState, x *h2exchange, rec *recorder) (*fastConn, bool, error) {
	head, direct := p.appendFastHead(x.head[:0], x.in, out)
	x.head = head
	if !direct {
		head = nil
		if out.Header == nil {
			out.Header = outboundHeader(x.in)
			p.rewriteHeaders(x.in, out.Header, st)
		}
		if !validFieldValue(out.Host) || !headersSendable(out.Header) {
			return nil, false, errBadHeader
		}
	}
	cp := b.conns
	fresh := false
	for {
		bc, reused, err := cp.get(time.Now(), fresh)
		if err != nil {
			return nil, false, err
		}
		stop, err := exchangeFast(bc, out, head, &x.rh, rec, cp.cfg.responseHeaderTimeout)
		if err == nil {
			x.fc = fastConn{bc: bc, stop: stop}
			return &x.fc, true, nil
		}
		bc.close()
		if reused && !fresh && idempotent(out.Method) && out.Context().Err() == nil && !isTimeout(err) {
			fresh = true
			continue
		}
		return nil, true, err
	}
}

// exchangeFast is rawExchange with the head read by respHead; 1xx
// answers are passed on through rec's header map, as ReverseProxy's
// hook does.
func exchangeFast(bc *bconn, out *http.Request, head []byte, rh *respHead, rec *recorder, headerTimeout time.Duration) (func() bool, error) {
	ctx := out.Context()
	stop := context.AfterFunc(ctx, func() { _ = bc.c.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (func() bool, error) {
		stop()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	if headerTimeout > 0 {
		_ = bc.c.SetDeadline(time.Now().Add(headerTimeout))
	}
	if err := writeOutHead(bc, out, head); err != nil {
		return fail(err)
	}
	for n1xx := 0; ; n1xx++ {
		if _, err := rh.read(bc.br); err != nil {
			return fail(err)
		}
		if rh.code == http.StatusSwitchingProtocols {
			// The request asked for no upgrade (rawEligible): the
			// connection speaks another protocol now, not to be pooled.
			return fail(errUnaskedSwitch)
		}
		if rh.code >= 200 {
			break
		}
		if n1xx == 5 {
			return fail(errors.New("ingress: too many 1xx informational responses"))
		}
		h := rec.Header()
		for _, f := range rh.spans {
			k := http.CanonicalHeaderKey(string(rh.buf[f.ns:f.ne]))
			h[k] = append(h[k], string(rh.buf[f.vs:f.ve]))
		}
		rec.WriteHeader(rh.code)
		clear(h)
	}
	if headerTimeout > 0 {
		clearHeadDeadline(ctx, bc)
	}
	return stop, nil
}

// clearHeadDeadline clears the response-header timeout's deadline, but
// not the one the client's reset set meanwhile (the watch may have run
// before the clearing): it ends the body's reads, which would otherwise
// wait for the backend.
func clearHeadDeadline(ctx context.Context, bc *bconn) {
	_ = bc.c.SetDeadline(time.Time{})
	if ctx.Err() != nil {
		_ = bc.c.SetDeadline(aLongTimeAgo)
	}
}

// writeOutHead writes head, or out's head when head is nil, to bc.
func writeOutHead(bc *bconn, out *http.Request, head []byte) error {
	if head != nil {
		_, err := bc.c.Write(head)
		return err
	}
	bw := rawWriters.Get().(*bufio.Writer)
	bw.Reset(bc.c)
	var err error
	if !writeRequestHead(bw, out) {
		err = out.Write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	rawWriters.Put(bw)
	return err
}

// relayFast relays a response framed by its Content-Length (or without
// a body) as HPACK fields: the backend's head less the hop-by-hop
// fields, and the sticky cookie as modifyResponse adds it.
func (p *Proxy) relayFast(rec *recorder, fw h2serve.FieldsWriter, out *http.Request, st *reqState, b *backend, fc *fastConn, x *h2exchange) {
	rh := &x.rh
	// One copy of the head, its names in lower case: the fields are its
	// substrings.
	lower := append(x.lower[:0], rh.buf...)
	for _, f := range rh.spans {
		for i := f.ns; i < f.ne; i++ {
			if c := lower[i]; 'A' <= c && c <= 'Z' {
				lower[i] = c + 'a' - 'A'
			}
		}
	}
	x.lower = lower
	head := string(lower)
	// Room for the sticky cookie and what h2serve adds (Date,
	// Content-Type, Content-Length).
	fields := make([]hpack.HeaderField, 0, len(rh.spans)+4)
	flush := false
	for _, f := range rh.spans {
		if f.drop || (f.kind != kindOther && f.kind != kindContentLength) {
			continue
		}
		name, value := head[f.ns:f.ne], head[f.vs:f.ve]
		if name == "content-type" && !flush {
			ct, _, _ := strings.Cut(value, ";")
			flush = ct == "text/event-stream"
		}
		fields = append(fields, hpack.HeaderField{Name: name, Value: value})
	}
	if st.pool.lb.Sticky != nil && b != st.preferred {
		fields = append(fields, hpack.HeaderField{Name: "set-cookie", Value: stickyCookie(st.pool.lb.Sticky, b).String()})
	}
	// The writer keeps fields until the handler returns: not pooled.
	rec.status = rh.code
	rec.final()
	fw.WriteHeaderFields(rh.code, fields)
	if noBody(out, rh.code) || rh.contentLength == 0 {
		fc.finish(true, !rh.close)
		return
	}
	x.body = exactReader{br: fc.bc.br, left: rh.contentLength}
	err := copyBody(rec, &x.body, flush)
	if err != nil {
		fc.finish(false, false)
		if errors.Is(err, errBackendBody) {
			panic(http.ErrAbortHandler) // as forwardLean
		}
		return
	}
	fc.finish(true, !rh.close)
}

// exactReader reads left bytes; EOF before them is io.ErrUnexpectedEOF.
type exactReader struct {
	br   *bufio.Reader
	left int64
}

func (r *exactReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.br.Read(p)
	r.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && r.left == 0 {
		err = io.EOF
	}
	return n, err
}

// relayParsed relays a response the fast lane does not frame itself:
// its head is parsed again by http.ReadResponse, then relayed as
// forwardLean relays it.
func (p *Proxy) relayParsed(w http.ResponseWriter, out *http.Request, st *reqState, b *backend, fc *fastConn, rh *respHead) {
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rh.buf), fc.bc.br), 4096)
	resp, err := http.ReadResponse(br, out)
	if err != nil {
		fc.finish(false, false)
		p.proxyErrorState(w, out, st, err)
		return
	}
	rb := &rawBody{rc: resp.Body, bc: fc.bc, stop: fc.stop, keep: !resp.Close, extra: br}
	if resp.Body == http.NoBody {
		rb.finish(true)
	} else {
		resp.Body = rb
	}
	defer resp.Body.Close()
	resp.Request = out
	p.modifyState(st, resp)
	p.relayResponse(w, resp)
}
