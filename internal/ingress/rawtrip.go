package ingress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The net/http path (HTTP/2, and what the fast path hands over) sends a
// request without a body over the fast path's raw connections to the
// backend (backendconn.go) rather than through http.Transport, whose
// reading and writing goroutines per connection cost more than the
// exchange. Requests with a body, and upgrades, keep the transport.

var rawWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// errUnaskedSwitch is a 101 answering a request without Upgrade.
var errUnaskedSwitch = errBadResponse("101 Switching Protocols without an upgrade request")

// errBadHeader is the transport's refusal of a header it cannot send.
var errBadHeader = errors.New("ingress: invalid header field name or value")

// rawEligible reports whether req may take the raw connections.
func rawEligible(req *http.Request) bool {
	return (req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 &&
		len(req.TransferEncoding) == 0 && len(req.Trailer) == 0 && req.Header.Get("Upgrade") == ""
}

// roundTrip sends one attempt to b: raw when it can, else through b's
// transport. As the transport, a request that fails on a reused
// connection before any response byte is sent again, once, on a new one
// when it is idempotent (it has no body).
func (b *backend) roundTrip(req *http.Request, st *reqState, transportOnly bool) (*http.Response, error) {
	if !requestLineSendable(req) {
		return nil, errBadRequestLine
	}
	if transportOnly || b.conns.scheme == "h2c" || !rawEligible(req) {
		return b.transport.RoundTrip(req)
	}
	if !validFieldValue(req.Host) || !headersSendable(req.Header) {
		return nil, errBadHeader
	}
	p := b.conns
	fresh := false
	for {
		bc, reused, err := p.get(time.Now(), fresh)
		if err != nil {
			return nil, err // a failed dial: st.gotConn stays false
		}
		st.gotConn.Store(true)
		resp, err := rawExchange(bc, req, p.cfg.responseHeaderTimeout)
		if err == nil {
			st.firstByte.Store(true)
			return resp, nil
		}
		bc.close()
		if reused && !fresh && idempotent(req.Method) && req.Context().Err() == nil && !isTimeout(err) {
			fresh = true
			continue
		}
		return nil, err
	}
}

// errBadRequestLine refuses a request whose request line would split.
var errBadRequestLine = errors.New("ingress: invalid method or request target")

// requestLineSendable reports whether req's method and target make one
// HTTP/1.1 request line: neither writeRequestHead nor req.Write checks
// the method, and the URL keeps a query's spaces as they came (HTTP/2
// :path). net/http's HTTP/2 server (h2c entry points) lets both by.
func requestLineSendable(req *http.Request) bool {
	return isToken(req.Method) && strings.IndexByte(req.URL.RawQuery, ' ') < 0 &&
		strings.IndexByte(req.URL.Opaque, ' ') < 0
}

// headersSendable reports whether h may be written as it is.
func headersSendable(h http.Header) bool {
	for k, vs := range h {
		if !isToken(k) {
			return false
		}
		for _, v := range vs {
			if !validFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// rawExchange writes req on bc and reads the response head, 1xx
// answers skipped; the response's body returns bc to its pool once read
// to its end.
func rawExchange(bc *bconn, req *http.Request, headerTimeout time.Duration) (*http.Response, error) {
	// The client going away (the stream reset) ends the exchange.
	stop := context.AfterFunc(req.Context(), func() { _ = bc.c.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	if headerTimeout > 0 {
		_ = bc.c.SetDeadline(time.Now().Add(headerTimeout))
	}
	err := writeOutHead(bc, req, nil) // h2fast.go
	if err != nil {
		return fail(err)
	}
	var resp *http.Response
	trace := httptrace.ContextClientTrace(req.Context())
	for n1xx := 0; ; n1xx++ {
		resp, err = http.ReadResponse(bc.br, req)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			// As ReverseProxy (and the HTTP/1.1 fast path): a switch
			// the request did not ask for (rawEligible: no Upgrade) is
			// a bad response, and its connection is not pooled.
			return fail(errUnaskedSwitch)
		}
		if resp.StatusCode >= 200 {
			break
		}
		// Passed on as the transport does (ReverseProxy's hook writes
		// it to the client), at most 5 (the transport's limit).
		if n1xx == 5 {
			return fail(errors.New("ingress: too many 1xx informational responses"))
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return fail(err)
			}
		}
	}
	clearHeadDeadline(req.Context(), bc) // h2fast.go
	rb := &rawBody{rc: resp.Body, bc: bc, stop: stop, keep: !resp.Close}
	if resp.Body == http.NoBody {
		rb.finish(true)
		return resp, nil
	}
	resp.Body = rb
	return resp, nil
}

// rawBody is a raw exchange's response body: read to its end, it gives
// the connection back to the pool; closed before, it closes it.
type rawBody struct {
	rc   io.ReadCloser
	bc   *bconn
	stop func() bool
	keep bool // the backend keeps the connection open
	done bool
	// extra is the reader the head was parsed again from (h2fast.go):
	// bytes it holds past the body are unasked ones, as in bc.br.
	extra *bufio.Reader
}

func (b *rawBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	}
	return n, err
}

func (b *rawBody) Close() error {
	if !b.done {
		// Closed first, so that the body's Close does not drain it.
		b.finish(false)
		_ = b.rc.Close()
	}
	return nil
}

// finish ends the exchange: the connection goes back to the pool when
// the body was read whole, the backend keeps it, and the client's
// context did not cut it.
func (b *rawBody) finish(whole bool) {
	b.done = true
	if b.extra != nil && b.extra.Buffered() > 0 {
		b.keep = false
	}
	if b.stop() && whole && b.keep {
		b.bc.pool.put(b.bc, time.Now())
		return
	}
	b.bc.close()
}

// writeRequestHead writes the head of req, which has no body, as
// req.Write would (Host, User-Agent from the header only, Content-Length
// 0 for the methods that expect a body), without sorting the header
// fields, which took a tenth of the HTTP/2 path's CPU in req.Write; it
// reports false, having written nothing, for what it leaves to
// req.Write: a Host that is not plain ASCII or not valid, CONNECT,
// Close, no User-Agent key (req.Write adds Go's).
func writeRequestHead(bw *bufio.Writer, req *http.Request) bool {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	ua, hasUA := req.Header["User-Agent"]
	if req.Method == http.MethodConnect || req.Close || !hasUA || !httpguts.ValidHostHeader(host) ||
		strings.IndexByte(host, '%') >= 0 || !isASCII(host) {
		return false
	}
	ruri := req.URL.RequestURI()
	for i := 0; i < len(ruri); i++ {
		if ruri[i] < ' ' || ruri[i] == 0x7f {
			return false
		}
	}
	_, _ = bw.WriteString(req.Method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(ruri)
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(host)
	_, _ = bw.WriteString("\r\n")
	if len(ua) > 0 && ua[0] != "" {
		_, _ = bw.WriteString("User-Agent: ")
		_, _ = bw.WriteString(textproto.TrimString(ua[0]))
		_, _ = bw.WriteString("\r\n")
	}
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		_, _ = bw.WriteString("Content-Length: 0\r\n")
	}
	for k, vs := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vs {
			// headersSendable checked: no line breaks to replace.
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(textproto.TrimString(v))
			_, _ = bw.WriteString("\r\n")
		}
	}
	_, _ = bw.WriteString("\r\n")
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
