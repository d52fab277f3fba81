package middleware

import (
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// grpcweb (allowOrigins: origins allowed by CORS, "*" for any; none by
// default): a gRPC-Web request (POST, Content-Type application/grpc-web
// or application/grpc-web-text, its body base64) goes on as gRPC
// (application/grpc, "TE: trailers", the body decoded) and its answer
// comes back as gRPC-Web: the Content-Type renamed, the trailers
// (grpc-status, grpc-message, ...) written at the end of the body as a
// frame with flag 0x80 and "key: value\r\n" lines, lower-case, and for
// -text the whole body base64, padded at each flush. The backend must
// speak cleartext HTTP/2 (server.scheme=h2c).
// CORS preflights asking for x-grpc-web or x-user-agent are answered
// here (204, with the CORS headers only for an allowed origin); other
// requests pass untouched. As Traefik's (improbable-eng's grpcweb),
// which this follows.
func newGRPCWeb(o *options) Middleware {
	origins := o.list("allowOrigins")
	allowed := func(origin string) bool {
		for _, a := range origins {
			if a == "*" || a == origin {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case grpcWebPreflight(r):
				if origin := r.Header.Get("Origin"); allowed(origin) {
					h := w.Header()
					h.Set("Access-Control-Allow-Origin", origin)
					h.Set("Access-Control-Allow-Credentials", "true")
					h.Set("Access-Control-Allow-Methods", http.MethodPost)
					h.Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
					h.Set("Access-Control-Max-Age", "600")
				}
				w.Header().Add("Vary", "Origin")
				w.WriteHeader(http.StatusNoContent)
			case r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc-web"):
				origin := r.Header.Get("Origin")
				gw := toGRPC(w, r, origin != "" && allowed(origin))
				next.ServeHTTP(gw, r)
				gw.finish()
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// grpcWebPreflight: a CORS preflight for gRPC-Web (what improbable-eng's
// IsAcceptableGrpcCorsRequest takes).
func grpcWebPreflight(r *http.Request) bool {
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, h := range strings.Split(v, ",") {
			h = strings.ToLower(strings.TrimSpace(h))
			if h == "x-grpc-web" || h == "x-user-agent" {
				return true
			}
		}
	}
	return false
}

// toGRPC turns r into a gRPC request in place and returns the writer
// that turns the answer into gRPC-Web.
func toGRPC(w http.ResponseWriter, r *http.Request, cors bool) *grpcWebWriter {
	ct := r.Header.Get("Content-Type")
	text := strings.HasPrefix(ct, "application/grpc-web-text")
	suffix := strings.TrimPrefix(strings.TrimPrefix(ct, "application/grpc-web"), "-text")
	r.Header.Set("Content-Type", "application/grpc"+suffix)
	r.Header.Set("Te", "trailers")
	r.ProtoMajor, r.ProtoMinor, r.Proto = 2, 0, "HTTP/2.0"
	if text {
		r.Body = struct {
			io.Reader
			io.Closer
		}{base64.NewDecoder(base64.StdEncoding, r.Body), r.Body}
		r.ContentLength = -1
		r.Header.Del("Content-Length")
	}
	gw := &grpcWebWriter{w: w, header: http.Header{}, text: text, cors: cors, origin: r.Header.Get("Origin")}
	if text {
		gw.enc = base64.NewEncoder(base64.StdEncoding, w)
	}
	return gw
}

// grpcWebWriter is what the proxy writes the gRPC answer to.
type grpcWebWriter struct {
	w      http.ResponseWriter
	header http.Header    // the proxy's; the client's is w.Header()
	sent   map[string]int // the head's headers: how many values each
	grpc   bool           // the answer is gRPC: its trailers are framed
	text   bool
	enc    io.WriteCloser // base64 of the body, for -text
	cors   bool
	origin string
	wrote  bool
}

func (g *grpcWebWriter) Header() http.Header { return g.header }

func (g *grpcWebWriter) WriteHeader(code int) {
	if g.wrote || code < 200 {
		return
	}
	g.wrote = true
	out := g.w.Header()
	g.sent = map[string]int{}
	ct := g.header.Get("Content-Type")
	g.grpc = strings.HasPrefix(ct, "application/grpc")
	var exposed []string
	for k, v := range g.header {
		// A gRPC body grows by the trailers' frame: no Content-Length.
		if k == "Trailer" || (k == "Content-Length" && g.grpc) || strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		g.sent[k] = len(v)
		out[k] = slices.Clone(v) // the proxy adds trailers to g.header's
		exposed = append(exposed, strings.ToLower(k))
	}
	if g.grpc {
		web := "application/grpc-web"
		if g.text {
			web += "-text"
		}
		out.Set("Content-Type", web+strings.TrimPrefix(ct, "application/grpc"))
	}
	if g.cors {
		sort.Strings(exposed)
		out.Set("Access-Control-Allow-Origin", g.origin)
		out.Set("Access-Control-Allow-Credentials", "true")
		out.Set("Access-Control-Expose-Headers", strings.Join(append([]string{"grpc-status", "grpc-message"}, exposed...), ", "))
		out.Add("Vary", "Origin")
	}
	g.w.WriteHeader(code)
}

func (g *grpcWebWriter) Write(b []byte) (int, error) {
	g.WriteHeader(http.StatusOK)
	if g.enc != nil && g.grpc {
		return g.enc.Write(b)
	}
	return g.w.Write(b)
}

// Flush sends what was written; for -text it pads the base64 so far
// (the client decodes padded pieces one after the other).
func (g *grpcWebWriter) Flush() {
	g.WriteHeader(http.StatusOK)
	if g.enc != nil && g.grpc {
		_ = g.enc.Close()
		g.enc = base64.NewEncoder(base64.StdEncoding, g.w)
	}
	_ = http.NewResponseController(g.w).Flush()
}

func (g *grpcWebWriter) Unwrap() http.ResponseWriter { return g.w }

// finish writes the trailers as the last frame of the body: the headers
// the proxy set after the head went out (Trailer: prefixed or declared).
func (g *grpcWebWriter) finish() {
	g.WriteHeader(http.StatusOK)
	if !g.grpc {
		return
	}
	var lines []string
	for k, v := range g.header {
		name := strings.TrimPrefix(k, http.TrailerPrefix)
		if k == "Trailer" || k == "Content-Length" {
			continue
		}
		if name == k {
			// A trailer named as a header of the head: the proxy
			// added its values after the head's.
			v = v[min(g.sent[k], len(v)):]
		}
		for _, s := range v {
			lines = append(lines, strings.ToLower(name)+": "+s+"\r\n")
		}
	}
	if len(lines) == 0 && g.sent["Grpc-Status"] > 0 {
		// Trailers-only: grpc-status came in the head, as the
		// gRPC-Web protocol allows.
		g.Flush()
		return
	}
	sort.Strings(lines)
	payload := strings.Join(lines, "")
	frame := make([]byte, 5, 5+len(payload))
	frame[0] = 0x80
	binary.BigEndian.PutUint32(frame[1:], uint32(len(payload)))
	frame = append(frame, payload...)
	_, _ = g.Write(frame)
	if g.enc != nil {
		_ = g.enc.Close()
		g.enc = nil
	}
	_ = http.NewResponseController(g.w).Flush()
}
