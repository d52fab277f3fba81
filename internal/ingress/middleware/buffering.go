package middleware

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
)

// buffering: the request body is read whole before the backend gets it
// (with a Content-Length), and one over maxRequestBodyBytes is answered
// 413; with maxResponseBodyBytes the response is held whole too, and one
// over it answered 500. Unlike Traefik, shoal holds bodies in memory only,
// never in temporary files: maxRequestBodyBytes is required and at most
// maxBufferBytes, memRequestBodyBytes and memResponseBodyBytes have no
// effect, and without maxResponseBodyBytes the response streams.
// retryExpression is refused.
type buffering struct {
	maxRequest, maxResponse int64
	next                    http.Handler
}

// maxBufferBytes bounds what one request may hold in memory.
const maxBufferBytes = 64 << 20

// bufferBudget bounds what every buffering middleware holds together, so
// that concurrent requests cannot add up to all the node's memory; past
// it a request is answered 503 and gives back what it held.
var bufferBudget = &budget{max: 256 << 20}

type budget struct {
	max  int64
	used atomic.Int64
}

// take reserves n more bytes for one request, which has taken *held so
// far; false when the budget has not that much left.
func (b *budget) take(held *int64, n int) bool {
	if b.used.Add(int64(n)) > b.max {
		b.used.Add(-int64(n))
		return false
	}
	*held += int64(n)
	return true
}

func (b *budget) give(held *int64) {
	b.used.Add(-*held)
	*held = 0
}

// errOverBudget is budgetReader's: the request is answered 503.
var errOverBudget = errors.New("the buffered bodies of the ingress are at their limit")

// budgetReader takes from the budget what it reads.
type budgetReader struct {
	r    io.Reader
	held *int64
}

func (br budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	if n > 0 && !bufferBudget.take(br.held, n) {
		return 0, errOverBudget
	}
	return n, err
}

func overBudget(w http.ResponseWriter) {
	http.Error(w, "503 Service Unavailable: "+errOverBudget.Error(), http.StatusServiceUnavailable)
}

func newBuffering(o *options) Middleware {
	b := &buffering{
		maxRequest:  o.integer("maxRequestBodyBytes", 0, 0),
		maxResponse: o.integer("maxResponseBodyBytes", 0, 0),
	}
	if b.maxRequest == 0 {
		o.fail("maxRequestBodyBytes", "required (1 to %d): shoal's ingress holds buffered bodies in memory, never in files", maxBufferBytes)
	}
	const tooBig = "at most %d: shoal's ingress holds buffered bodies in memory"
	if b.maxRequest > maxBufferBytes {
		o.fail("maxRequestBodyBytes", tooBig, maxBufferBytes)
	}
	if b.maxResponse > maxBufferBytes {
		o.fail("maxResponseBodyBytes", tooBig, maxBufferBytes)
	}
	o.integer("memRequestBodyBytes", 0, 0)
	o.integer("memResponseBodyBytes", 0, 0)
	if _, ok := o.get("retryExpression"); ok {
		o.fail("retryExpression", "not supported: use a retry middleware")
	}
	return func(next http.Handler) http.Handler {
		c := *b
		c.next = next
		return &c
	}
}

func (b *buffering) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > b.maxRequest {
		http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var held int64
	defer bufferBudget.give(&held)
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(budgetReader{r: http.MaxBytesReader(w, r.Body, b.maxRequest), held: &held})
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
			return
		case errors.Is(err, errOverBudget):
			overBudget(w)
			return
		case err != nil:
			http.Error(w, "400 Bad Request: the request body could not be read", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if b.maxResponse == 0 {
		b.next.ServeHTTP(w, r)
		return
	}
	bw := &bufferWriter{ResponseWriter: w, max: b.maxResponse, head: r.Method == http.MethodHead, held: &held}
	b.next.ServeHTTP(bw, r)
	bw.finish()
}

// bufferWriter holds a whole response; one over max becomes a 500.
type bufferWriter struct {
	http.ResponseWriter
	max     int64
	code    int
	buf     bytes.Buffer
	tooBig  bool
	over    bool   // past bufferBudget: the answer is a 503
	held    *int64 // what the request took from bufferBudget
	through bool   // a 101 went through: the connection was upgraded
	head    bool   // a HEAD request: the backend's Content-Length stands
}

func (w *bufferWriter) WriteHeader(code int) {
	if code < 200 {
		w.through = code == http.StatusSwitchingProtocols
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.tooBig || w.over {
		return len(b), nil // discarded
	}
	if int64(w.buf.Len()+len(b)) > w.max {
		w.tooBig = true
		w.buf = bytes.Buffer{}
		return len(b), nil // discarded: the answer is a 500
	}
	if !bufferBudget.take(w.held, len(b)) {
		w.over = true
		w.buf = bytes.Buffer{}
		return len(b), nil // discarded: the answer is a 503
	}
	return w.buf.Write(b)
}

// Flush holds: the response goes out whole.
func (w *bufferWriter) Flush() {}

func (w *bufferWriter) finish() {
	switch {
	case w.through:
	case w.over:
		clear(w.Header())
		overBudget(w.ResponseWriter)
	case w.tooBig:
		clear(w.Header())
		http.Error(w.ResponseWriter, "500 Internal Server Error: the response is larger than the router's buffering allows", http.StatusInternalServerError)
	default:
		if w.code == 0 {
			w.code = http.StatusOK
		}
		if w.Header().Get("Content-Length") == "" && !w.head && w.code != http.StatusNoContent && w.code != http.StatusNotModified {
			w.Header().Set("Content-Length", strconv.Itoa(w.buf.Len()))
		}
		w.ResponseWriter.WriteHeader(w.code)
		_, _ = w.ResponseWriter.Write(w.buf.Bytes())
	}
}

func (w *bufferWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
