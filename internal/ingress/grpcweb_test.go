package ingress_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// grpcFrame is one gRPC length-prefixed message (flag 0) or, with flag
// 0x80, gRPC-Web's trailer frame.
func grpcFrame(flag byte, msg string) string {
	var h [5]byte
	h[0] = flag
	binary.BigEndian.PutUint32(h[1:], uint32(len(msg)))
	return string(h[:]) + msg
}

// startGRPCBackend is a gRPC-like server over cleartext HTTP/2 (prior
// knowledge, no HTTP/1.1): it answers each message of a request with
// the message upper-cased, then trailers grpc-status 0 and a custom one;
// /fail answers trailers-only, grpc-status 5 in the head. A request
// that is not gRPC over HTTP/2 with "TE: trailers" gets 400.
func startGRPCBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: testTimeout, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc+proto" || r.Header.Get("Te") != "trailers" {
			http.Error(w, "not gRPC: "+r.Proto+" "+r.Header.Get("Content-Type")+" te="+r.Header.Get("Te"), http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/echo.Echo/Fail" {
			w.Header().Set("Content-Type", "application/grpc+proto")
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "not found")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/grpc+proto")
		w.Header().Set("X-Head", "h")
		w.WriteHeader(http.StatusOK)
		var hdr [5]byte
		for {
			if _, err := io.ReadFull(r.Body, hdr[:]); err != nil {
				break
			}
			msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
			if _, err := io.ReadFull(r.Body, msg); err != nil {
				break
			}
			_, _ = io.WriteString(w, grpcFrame(0, strings.ToUpper(string(msg))))
			http.NewResponseController(w).Flush()
		}
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		w.Header().Set(http.TrailerPrefix+"X-Done", "yes")
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("gRPC backend: %v", err)
		}
	})
	return ln.Addr().String()
}

// A grpcweb router (Traefik's example, allowOrigins=*) in front of an
// h2c service: gRPC-Web over HTTP/1.1, binary and base64 text, reaches
// the backend as gRPC over HTTP/2 and its answer, trailers included,
// comes back in the body as gRPC-Web frames; a trailers-only error keeps
// grpc-status in the head; a CORS preflight is answered by the ingress.
func TestGRPCWebToH2CBackend(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	addr := startGRPCBackend(t)
	e.table.Reset([]*api.Service{service("s1", "echo", labels(
		"traefik.http.routers.echo.rule=PathPrefix(`/echo.Echo`)",
		"traefik.http.routers.echo.middlewares=gw",
		"traefik.http.middlewares.gw.grpcweb.allowOrigins=https://app.example",
		"traefik.http.services.echo.loadbalancer.server.port=80",
		"traefik.http.services.echo.loadbalancer.server.scheme=h2c",
	))}, []*api.Task{task("t1", "s1", addr)})
	c := e.client()
	trailer := grpcFrame(0x80, "grpc-status: 0\r\nx-done: yes\r\n")

	r := e.do(c, http.MethodPost, "/echo.Echo/Say", grpcFrame(0, "hello")+grpcFrame(0, "again"),
		"Content-Type", "application/grpc-web+proto", "X-Grpc-Web", "1", "Origin", "https://app.example")
	if want := grpcFrame(0, "HELLO") + grpcFrame(0, "AGAIN") + trailer; r.status != http.StatusOK || r.body != want {
		t.Fatalf("binary: %d %q, want %q", r.status, r.body, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/grpc-web+proto" {
		t.Errorf("binary Content-Type %q", ct)
	}
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "grpc-status") {
		t.Errorf("CORS headers: %v", r.header)
	}

	r = e.do(c, http.MethodPost, "/echo.Echo/Say", base64.StdEncoding.EncodeToString([]byte(grpcFrame(0, "text"))),
		"Content-Type", "application/grpc-web-text+proto", "Origin", "https://evil.example")
	got, err := decodeChunks(r.body)
	if want := grpcFrame(0, "TEXT") + trailer; err != nil || r.status != http.StatusOK || got != want {
		t.Fatalf("text: %d %q (%q, %v), want %q", r.status, r.body, got, err, want)
	}
	if r.header.Get("Content-Type") != "application/grpc-web-text+proto" || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("text head (origin not allowed): %v", r.header)
	}

	r = e.do(c, http.MethodPost, "/echo.Echo/Fail", grpcFrame(0, "x"), "Content-Type", "application/grpc-web+proto")
	if r.status != http.StatusOK || r.header.Get("Grpc-Status") != "5" || r.body != "" {
		t.Errorf("trailers-only: %d %q %v", r.status, r.body, r.header)
	}

	r = e.do(c, http.MethodOptions, "/echo.Echo/Say", "", "Origin", "https://app.example",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,x-grpc-web")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		r.header.Get("Access-Control-Allow-Headers") != "content-type,x-grpc-web" {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}

	// Plain HTTP/1.1 to the h2c backend (no grpcweb request): it goes
	// as HTTP/2 too, and the backend says it is not gRPC.
	r = e.do(c, http.MethodPost, "/echo.Echo/Say", "x", "Content-Type", "text/plain")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "HTTP/2.0 text/plain") {
		t.Errorf("non-gRPC-Web request: %d %q", r.status, r.body)
	}
}

// An h2c service's router without middlewares: the fast path hands the
// request to the net/http path, which sends it as HTTP/2.
func TestH2CServiceWithoutMiddlewares(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	addr := startGRPCBackend(t)
	raw := []string{
		"traefik.http.routers.raw.rule=PathPrefix(`/raw`)",
		"traefik.http.services.raw.loadbalancer.server.port=80",
		"traefik.http.services.raw.loadbalancer.server.scheme=h2c",
	}
	e.table.Reset([]*api.Service{service("s2", "raw", labels(raw...))}, []*api.Task{task("t2", "s2", addr)})
	for i := 0; i < 2; i++ { // the second on the same connection
		r := e.do(e.client(), http.MethodGet, "/raw", "")
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "not gRPC: HTTP/2.0") {
			t.Errorf("GET /raw: %d %q, want the backend's answer over HTTP/2", r.status, r.body)
		}
	}
	// Health checks go over h2c too (TestHealthCheckOverH2C).
	if err := ingress.ValidateLabels(labels(append(raw, "traefik.http.services.raw.loadbalancer.healthcheck.path=/health")...)); err != nil {
		t.Errorf("health check with h2c: %v", err)
	}
}

// decodeChunks decodes base64 sent as padded pieces one after another.
func decodeChunks(s string) (string, error) {
	var out []byte
	for s != "" {
		n := strings.IndexByte(s, '=')
		end := len(s)
		if n >= 0 {
			end = n
			for end < len(s) && s[end] == '=' {
				end++
			}
		}
		b, err := base64.StdEncoding.DecodeString(s[:end])
		if err != nil {
			return "", err
		}
		out = append(out, b...)
		s = s[end:]
	}
	return string(out), nil
}
