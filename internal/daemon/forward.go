package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/httpjson"
	"github.com/shoalproject/shoal/internal/server"
)

// apiHandler serves the API on this manager: reads here (they may be a
// little stale on a follower), writes on the leader, forwarded to it. A
// write this manager took as the leader, and refused having lost the
// leadership before it wrote anything, goes to the new leader.
func (d *Dev) apiHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == PathLeave {
			// This node leaves, not the leader.
			d.serveLeave(w, r)
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == pathIssueOperator {
			// Signed here: every manager holds the CA key and nothing
			// goes to Raft; forwarded, the leader's audit line would name
			// the follower's certificate, not who asked.
			h.ServeHTTP(w, r)
			return
		}
		if d.stream != nil && r.Method == http.MethodGet && isLogs(r) && !d.mgr.IsLeader() {
			// The agents' links end at the leader, and only it can
			// read the output of tasks on other nodes.
			d.forward(w, r, pathAPI+r.URL.Path, h)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead || d.stream == nil {
			h.ServeHTTP(w, r)
			return
		}
		if d.mgr.IsLeader() {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxForwardBody+1))
			if err != nil {
				httpjson.WriteError(w, http.StatusBadRequest, "read the request: "+err.Error())
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := &recorder{header: http.Header{}}
			h.ServeHTTP(rec, r)
			if rec.header.Get(server.HeaderNotWritten) == "" {
				rec.copyTo(w)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		path := r.URL.Path
		if rest, ok := strings.CutPrefix(path, "/v1/nodes/self"); ok && (rest == "" || rest[0] == '/') {
			// "self" is this node, not the leader's.
			path = "/v1/nodes/" + d.nodeID + rest
		}
		d.forward(w, r, pathAPI+path, h)
	})
}

// pathIssueOperator is POST's path for an operator certificate.
const pathIssueOperator = "/v1/swarm/ca/operator"

// isLogs reports whether r asks for tasks' output (service logs).
func isLogs(r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/services/")
	return ok && strings.HasSuffix(rest, "/logs") && strings.Count(rest, "/") == 1
}

// relayWriteTimeout bounds each write of a relayed stream, as the API
// bounds its own streams' (30s).
const relayWriteTimeout = 30 * time.Second

// flushWriter sends each write on at once: a forwarded stream (logs
// --follow) reaches the client as the leader sends it. Each write has
// timeout (relayWriteTimeout): a client that stops reading
// ends the stream instead of holding the relay for ever.
type flushWriter struct {
	w       http.ResponseWriter
	timeout time.Duration
}

func (f flushWriter) Write(p []byte) (int, error) {
	rc := http.NewResponseController(f.w)
	if err := rc.SetWriteDeadline(time.Now().Add(f.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	n, err := f.w.Write(p)
	if err == nil {
		_ = rc.Flush()
	}
	return n, err
}

// recorder keeps an answer to send it, or not.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

func (r *recorder) copyTo(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(max(r.code, http.StatusOK))
	_, _ = w.Write(r.body.Bytes())
}

// leaderWait bounds the wait for a leader before a write is refused
// with "no quorum": an election takes about a second with Raft's
// default timeouts.
var leaderWait = 5 * time.Second

// maxForwardBody bounds the body of a forwarded write: the API's own
// limit, so that a body the API takes is never cut here.
const maxForwardBody = server.MaxBody

// forward sends r to the leader's cluster port at path, over mutual TLS
// with this manager's certificate, and copies its answer back. While no
// leader is known, or the one known cannot be dialled (nothing was sent,
// so trying again cannot write twice), it waits for the next leader, up
// to leaderWait; then it answers "no quorum". Should this manager be
// elected meanwhile, local serves the request.
func (d *Dev) forward(w http.ResponseWriter, r *http.Request, path string, local http.Handler) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxForwardBody+1))
	if err != nil {
		httpjson.WriteError(w, http.StatusBadRequest, "read the request: "+err.Error())
		return
	}
	if len(body) > maxForwardBody {
		httpjson.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", maxForwardBody))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), leaderWait)
	defer cancel()
	c := &http.Client{Transport: d.peerTransport()}
	for {
		changed := d.mgr.Raft().LeaderChanged()
		addr, err := d.mgr.Raft().WaitLeaderAddr(ctx)
		if err != nil {
			httpjson.WriteError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		if addr == d.agentAddr {
			// Elected meanwhile: serve it here, once this manager acts
			// as the leader, or wait for the next change.
			if d.mgr.IsLeader() {
				r.Body = io.NopCloser(bytes.NewReader(body))
				local.ServeHTTP(w, r)
				return
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				httpjson.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("%v (an election is under way)", cluster.ErrNoQuorum))
				return
			}
		}
		// path is decoded: built as a URL it is escaped again, so that a
		// name holding "?" or "#" reaches the leader whole.
		u := &url.URL{Scheme: "https", Host: addr, Path: path, RawQuery: r.URL.RawQuery}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
		if err != nil {
			httpjson.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := c.Do(req)
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(server.HeaderNotWritten) != "" {
			// That leader had just lost its leadership: the next one.
			resp.Body.Close()
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				httpjson.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("%v (the leadership is changing)", cluster.ErrNoQuorum))
				return
			}
		}
		if err == nil {
			defer resp.Body.Close()
			// Read your writes: the answer waits until this manager's
			// store holds what the leader applied.
			if idx, perr := strconv.ParseUint(resp.Header.Get(headerIndex), 10, 64); perr == nil && resp.StatusCode < 300 {
				d.waitIndex(r.Context(), idx)
			}
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(flushWriter{w: w, timeout: relayWriteTimeout}, resp.Body)
			return
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			// The request may have reached the leader: only the
			// client may try it again.
			httpjson.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("forward to the leader at %s: %v (the write may or may not have happened)", addr, err))
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			httpjson.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("%v (the leader at %s does not answer: %v)", cluster.ErrNoQuorum, addr, err))
			return
		}
	}
}

// peerTransport is the HTTP transport of this manager's calls to other
// managers: its current certificate, and only managers of the cluster.
func (d *Dev) peerTransport() http.RoundTripper {
	d.peerOnce.Do(func() {
		d.peers = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSClientConfig:     d.peerTLS(),
			TLSHandshakeTimeout: 10 * time.Second,
			// A new connection per call: a kept one to a leader that died
			// fails after the request was written (the write may have
			// happened), where a new one fails at the dial, safely
			// retried. Writes are rare enough to pay a handshake each.
			DisableKeepAlives: true,
			// A stuck leader must not hold a write forever.
			ResponseHeaderTimeout: 30 * time.Second,
		}
	})
	return d.peers
}

// peerTLS presents this manager's current certificate and trusts the
// roots it trusts now (a CA rotation changes both).
func (d *Dev) peerTLS() *tls.Config {
	return ca.CurrentClientConfig(func() *ca.NodeIdentity {
		id, _ := d.self.Identity()
		return id
	})
}

// headerIndex carries, on the answer to a forwarded write, the Raft index
// the leader's store had applied when it answered.
const headerIndex = "Shoal-Raft-Index"

// indexHeader serves the API, adding headerIndex to its answers.
func indexHeader(d *Dev) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.api.ServeHTTP(&indexWriter{ResponseWriter: w, d: d}, r)
	})
}

type indexWriter struct {
	http.ResponseWriter
	d       *Dev
	written bool
}

func (w *indexWriter) WriteHeader(code int) {
	if !w.written {
		w.written = true
		w.Header().Set(headerIndex, strconv.FormatUint(w.d.mgr.Store().Index(), 10))
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets a stream (logs) flush and set its write deadlines.
func (w *indexWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *indexWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// indexWait bounds how long a forwarded write's answer waits for this
// manager to catch up: past it, the answer goes, and reads may lag.
var indexWait = 5 * time.Second

// waitIndex waits until this manager's store applied index idx, at most
// indexWait.
func (d *Dev) waitIndex(ctx context.Context, idx uint64) {
	ctx, cancel := context.WithTimeout(ctx, indexWait)
	defer cancel()
	_ = d.mgr.Store().WaitIndex(ctx, idx) // past indexWait, the answer goes anyway
}
