package ingress_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// BenchmarkProxyLoopback measures one keep-alive GET through the proxy
// over loopback, client and backend in the same process (the backend a
// minimal raw HTTP/1.1 responder), with allocations per request:
//
//	go test -run xxx -bench ProxyLoopback -benchmem ./internal/ingress/
//
// "middlewares" runs basicauth ({SHA} user, so that the chain's cost
// shows rather than the hash's; bcrypt at cost 10 alone takes about
// 64 ms), headers (a request header) and stripprefix, which the fast
// path runs itself; "middlewares-nethttp" the same on the net/http path.
func BenchmarkProxyLoopback(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchLoopback(b, false, nil, "", false) })
	b.Run("sticky-cookie", func(b *testing.B) { benchLoopback(b, true, nil, "", false) })
	mw := []string{
		"traefik.http.routers.web.middlewares=auth,hdr,strip",
		"traefik.http.middlewares.auth.basicauth.users=admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
		"traefik.http.middlewares.hdr.headers.customRequestHeaders.X-Script-Name=bench",
		"traefik.http.middlewares.strip.stripprefix.prefixes=/bench",
	}
	auth := "Authorization: " + basicAuth("admin", "password") + "\r\n"
	b.Run("middlewares", func(b *testing.B) { benchLoopback(b, false, mw, auth, false) })
	b.Run("middlewares-nethttp", func(b *testing.B) { benchLoopback(b, false, mw, auth, true) })
}

func benchLoopback(b *testing.B, sticky bool, extra []string, reqHeader string, slow bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n" +
		"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	if sticky {
		extra = append(extra, "traefik.http.services.signup-web.loadbalancer.sticky.cookie=true")
	}
	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	defer table.Close()
	table.Reset([]*api.Service{service("s1", "web", webLabels(extra...))}, []*api.Task{task("t1", "s1", ln.Addr().String())})
	p := ingress.NewProxy(table, ingress.Options{ErrorLog: quietLog})
	if slow {
		ingress.SlowMiddlewares(p)
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.Serve(pln); close(done) }()
	defer func() { _ = p.Shutdown(b.Context()); <-done }()

	c, err := net.Dial("tcp", pln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := "GET /bench HTTP/1.1\r\nHost: bench.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n" + reqHeader
	if sticky {
		// The backend's cookie value, taken from a first answer.
		_, _ = io.WriteString(c, req+"\r\n")
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		req += "Cookie: " + r.Cookies()[0].String() + "\r\n"
	}
	req += "\r\n"
	br := bufio.NewReader(c)
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := io.WriteString(c, req); err != nil {
			b.Fatal(err)
		}
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, r.Body, buf); err != nil || r.StatusCode != 200 {
			b.Fatal(err, r.StatusCode)
		}
		r.Body.Close()
	}
}

// BenchmarkProxyTLSLoopback is BenchmarkProxyLoopback over ServeTLS with
// a Go client: HTTP/1.1 (the fast path) and HTTP/2 (net/http's server,
// then the raw backend connections, or with "-transport" http.Transport
// as before rawtrip.go):
//
//	go test -run xxx -bench ProxyTLSLoopback -benchmem ./internal/ingress/
func BenchmarkProxyTLSLoopback(b *testing.B) {
	b.Run("h1", func(b *testing.B) { benchTLSLoopback(b, false, false) })
	b.Run("h2", func(b *testing.B) { benchTLSLoopback(b, true, false) })
	b.Run("h2-transport", func(b *testing.B) { benchTLSLoopback(b, true, true) })
}

func benchTLSLoopback(b *testing.B, h2, transportOnly bool) {
	be := startBackend(b, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789")
	}))
	cert, leaf := testutil.SelfSignedCert(b, "127.0.0.1")
	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	defer table.Close()
	table.Reset([]*api.Service{service("s1", "web", webLabels("traefik.http.routers.web.tls=true"))}, []*api.Task{task("t1", "s1", be.addr())})
	p := ingress.NewProxy(table, ingress.Options{ErrorLog: quietLog})
	if transportOnly {
		ingress.TransportOnly(p)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.ServeTLS(ln, &tls.Config{Certificates: []tls.Certificate{cert}}); close(done) }()
	defer func() { _ = p.Shutdown(b.Context()); <-done }()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	cfg := &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}
	if h2 {
		cfg.NextProtos = []string{"h2"}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	url := "https://" + ln.Addr().String() + "/"
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, r.Body, buf); err != nil || r.StatusCode != 200 || r.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
			b.Fatal(err, r.Status, r.Proto)
		}
		r.Body.Close()
	}
}
