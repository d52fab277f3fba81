package ingress

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// errNoBackend ends a request for which no healthy backend is left.
var errNoBackend = errors.New("no healthy backend")

// reqState is what the proxy knows of one request on its way to a backend.
// It travels in the request context from ServeHTTP to the transport and
// back.
type reqState struct {
	pool *pool
	// preferred is the backend the sticky cookie names, if usable.
	preferred *backend
	// chosen is the backend that answered; ServeHTTP releases it.
	chosen   *backend
	tried    []*backend
	triedBuf [4]*backend
	// status is the backend's response status (for 101, which the
	// response writer never sees).
	status int
	// retries counts attempts after the first.
	retries int
	// forwarded is set when the X-Forwarded-* headers were set on the
	// incoming request, before its middlewares (which may change them).
	forwarded bool
	// maxAttempts and retryInterval, when set by a retry middleware,
	// replace Options.MaxAttempts and wait between attempts (growing to twice it; RoundTrip).
	maxAttempts   int
	retryInterval time.Duration

	// Attempt flags, set from httptrace hooks (which may run on transport
	// goroutines).
	gotConn   atomic.Bool
	firstByte atomic.Bool
	trace     *httptrace.ClientTrace
}

var statePool = sync.Pool{New: func() any {
	st := &reqState{}
	st.trace = &httptrace.ClientTrace{
		GotConn:              func(httptrace.GotConnInfo) { st.gotConn.Store(true) },
		GotFirstResponseByte: func() { st.firstByte.Store(true) },
	}
	return st
}}

func getState(p *pool) *reqState {
	st := statePool.Get().(*reqState)
	st.pool = p
	st.tried = st.triedBuf[:0]
	return st
}

func putState(st *reqState) {
	st.pool, st.preferred, st.chosen = nil, nil, nil
	st.triedBuf = [4]*backend{}
	st.tried = nil
	st.status, st.retries = 0, 0
	st.forwarded = false
	st.maxAttempts, st.retryInterval = 0, 0
	statePool.Put(st)
}

type stateKey struct{}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// forwarder is the proxy's http.RoundTripper: it picks the backend for
// each attempt and retries on another backend when that is safe.
//
// Retry policy. A request is retried on another backend (each backend at
// most once, at most MaxAttempts attempts in all) when:
//
//   - no byte of it reached a backend: the dial failed (refused, timed out,
//     unreachable), or no connection was obtained at all. Any method is
//     retried, body and all, since nothing was consumed. The backend is
//     also ejected from new picks for TableOptions.EjectTime.
//   - or the connection failed after the request was sent, but the method
//     is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE), no byte of
//     the response arrived, no byte of the request body was read, and the
//     failure is not a timeout (a slow backend is not a dead one, and
//     resending to a second backend would double the load that slowed
//     it).
//
// Nothing else is retried: once a non-idempotent request may have reached
// a backend, or once the response started, the error goes to the client
// (502, or 504 for a timeout). A reused keep-alive connection that the
// backend closed while idle is handled below this layer: net/http's
// transport itself resends a request it had not written (and an
// idempotent one), on a new connection to the same backend, and a failed
// dial there falls under the first rule.
type forwarder struct {
	maxAttempts int
	ejectTime   time.Duration
	// transportOnly sends every request through the backends'
	// http.Transport (tests and benchmarks compare with rawtrip.go).
	transportOnly bool
}

func (f *forwarder) RoundTrip(out *http.Request) (*http.Response, error) {
	st := stateFrom(out.Context())
	if st == nil {
		return nil, errors.New("ingress: request without routing state")
	}
	// WithClientTrace chains the trace it is given onto the context's
	// existing trace hooks by changing it in place: each request gets its
	// own copy, or the pooled one would keep every past request alive.
	tr := *st.trace
	ctx := httptrace.WithClientTrace(out.Context(), &tr)
	var body *sharedBody
	if out.Body != nil && out.Body != http.NoBody {
		body = &sharedBody{rc: out.Body}
	}
	maxAttempts := f.maxAttempts
	if st.maxAttempts > 0 {
		maxAttempts = st.maxAttempts
	}
	// Traefik's retry backoff: the wait grows from the interval towards
	// twice it, which the last retry's stays under.
	wait := st.retryInterval
	growth := math.Pow(2, 1/float64(max(maxAttempts-1, 1)))
	var lastErr error
	for {
		b := st.pool.next(st.tried, st.preferred, maxAttempts)
		if b == nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, errNoBackend
		}
		if len(st.tried) > 0 {
			st.retries++
			st.pool.stats.retries.Add(1)
		}
		st.tried = append(st.tried, b)
		b.inflight.Add(1)
		st.gotConn.Store(false)
		st.firstByte.Store(false)

		req := out.WithContext(ctx) // shallow copy; URL copied below
		u := *out.URL
		u.Scheme, u.Host = st.pool.lb.urlScheme(), b.addr
		req.URL = &u
		if !st.pool.lb.PassHostHeader {
			req.Host = ""
		}
		if body != nil {
			h, ok := body.takeOver()
			if !ok {
				b.inflight.Add(-1)
				return nil, lastErr // read by an earlier attempt: not resent
			}
			req.Body, req.GetBody = h, body.rewind
		}
		resp, err := b.roundTrip(req, st, f.transportOnly)
		if err == nil {
			st.chosen = b
			return resp, nil
		}
		b.inflight.Add(-1)
		lastErr = err
		if !f.retryable(st, req, b, err) {
			return nil, err
		}
		if wait > 0 && len(st.tried) < maxAttempts {
			if !sleepCtx(out.Context(), wait) {
				return nil, err
			}
			wait = time.Duration(float64(wait) * growth)
		}
	}
}

// sleepCtx waits d unless ctx ends first; false when it did.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryable reports whether a failed attempt may be repeated on another
// backend; the request body, if any, must also be untouched (checked when
// the next attempt takes it over).
func (f *forwarder) retryable(st *reqState, req *http.Request, b *backend, err error) bool {
	if req.Context().Err() != nil {
		return false // the client went away
	}
	if isDialError(err) || !st.gotConn.Load() {
		b.eject(f.ejectTime)
		return true
	}
	if isTimeout(err) {
		// No answer within the response-header timeout: out of new
		// picks for a while, as a refused connection (passive health).
		b.eject(f.ejectTime)
	}
	return !st.firstByte.Load() && !isTimeout(err) && idempotent(req.Method)
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sharedBody is the client's request body shared by successive attempts.
// Each attempt reads it through its own handle; handing it to a new
// attempt cuts off the previous one, so a transport goroutine of a failed
// attempt can never read it concurrently with the next. An attempt is
// only retried while no byte has been read.
type sharedBody struct {
	mu    sync.Mutex
	rc    io.ReadCloser
	n     int64
	owner *bodyHandle
}

type bodyHandle struct{ s *sharedBody }

var errBodyMoved = errors.New("ingress: request body moved to another attempt")

// takeOver gives the body to a new attempt if no byte of it was read,
// cutting off every earlier handle in the same step. A read in progress
// (the lock is held) counts as a byte read.
func (s *sharedBody) takeOver() (io.ReadCloser, bool) {
	if !s.mu.TryLock() {
		return nil, false
	}
	defer s.mu.Unlock()
	if s.n != 0 {
		return nil, false
	}
	h := &bodyHandle{s: s}
	s.owner = h
	return h, true
}

// rewind serves as GetBody, which net/http calls to resend a request it
// had not written: possible only while nothing was read.
func (s *sharedBody) rewind() (io.ReadCloser, error) {
	h, ok := s.takeOver()
	if !ok {
		return nil, errors.New("ingress: request body already sent")
	}
	return h, nil
}

func (h *bodyHandle) Read(p []byte) (int, error) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner != h {
		return 0, errBodyMoved
	}
	n, err := s.rc.Read(p)
	s.n += int64(n)
	return n, err
}

// Close does nothing: the server closes the client's body when the
// handler returns, and a failed attempt must not close it for the next.
func (h *bodyHandle) Close() error { return nil }
