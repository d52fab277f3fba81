package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"time"
)

// ServeTLS accepts HTTPS connections on ln with cfg, which must hold the
// certificates, until Shutdown. HTTP/1.1 over TLS is served by the fast
// path, as Serve's plain connections: the handshake is done first, then
// the same engine reads the *tls.Conn. A connection that negotiates h2
// (ALPN) is served by the ingress's HTTP/2 server (h2tls.go); any
// HTTP/1.x request outside the fast path's subset is handed to a
// net/http server with the connection's TLS state (Request.TLS).
func (p *Proxy) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	return p.serve(ln, cfg)
}

// The outcomes of fconn.handshake.
const (
	tlsH1     = iota // HTTP/1.1: served by the fast path
	tlsH2            // HTTP/2: served by h2serve (h2tls.go)
	tlsFailed        // closed
)

// handshake runs the TLS handshake of a ServeTLS connection, within the
// head's timeout as net/http's (tlsHandshakeTimeout); c.c becomes the
// *tls.Conn. A client that speaks plain HTTP gets net/http's 400.
func (c *fconn) handshake() int {
	raw := c.c
	tc := tls.Server(raw, c.cfg)
	c.raw, c.c = raw, tc
	if d := c.p.headerTimeout; d > 0 {
		_ = raw.SetDeadline(time.Now().Add(d))
	}
	err := tc.HandshakeContext(context.Background())
	if v, ok := c.p.tlsChosen.LoadAndDelete(raw); ok {
		c.tlsOpt = v.(*TLSOption)
	}
	if err != nil {
		reason := err.Error()
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			reason = "client sent an HTTP request to an HTTPS server"
		}
		c.p.opts.ErrorLog.Debug("ingress: TLS handshake failed", "client", c.remote, "err", reason)
		return tlsFailed
	}
	_ = raw.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.tls = &st
	if st.NegotiatedProtocol == "h2" {
		return tlsH2 // served by h2serve (h2tls.go)
	}
	return tlsH1
}

// looksLikeHTTP is net/http's tlsRecordHeaderLooksLikeHTTP.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// tlsHandoffHooks sets up fb, the net/http server of a ServeTLS, for the
// connections handed to it: HTTP/2 offered by ALPN (net/http configures
// it only when NextProtos names h2), and the limit released when a bare
// *tls.Conn (h2) closes; HTTP/1.x connections come wrapped
// (tlsReplayConn), and release it themselves.
func (p *Proxy) tlsHandoffHooks(fb *http.Server) {
	cfg := fb.TLSConfig
	if !slices.Contains(cfg.NextProtos, "h2") {
		cfg.NextProtos = append([]string{"h2"}, cfg.NextProtos...)
	}
	if !slices.Contains(cfg.NextProtos, "http/1.1") {
		cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
	}
	// The requests' contexts carry the TLS options the handshake got
	// (routeMisdirected).
	fb.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if rc, ok := c.(*tlsReplayConn); ok && rc.opt != nil {
			return withConnTLSOption(ctx, rc.opt)
		}
		return ctx
	}
	fb.ConnState = func(c net.Conn, st http.ConnState) {
		if _, bare := c.(*tls.Conn); bare && (st == http.StateClosed || st == http.StateHijacked) {
			p.clients.Release()
		}
	}
}

// tlsReplayConn is a ServeTLS connection handed to net/http after its
// handshake: net/http takes Request.TLS from ConnectionState when the
// connection is not a *tls.Conn.
type tlsReplayConn struct {
	*replayConn
	st  *tls.ConnectionState
	opt *TLSOption // fconn.tlsOpt, for the requests' contexts
}

func (c *tlsReplayConn) ConnectionState() tls.ConnectionState { return *c.st }
