// Command benchingress runs shoal's ingress alone, for the ingress
// benchmark (bench/proxy): a routing table fed directly with Table.Reset —
// one service whose Traefik labels route PathPrefix(`/`) to a Traefik
// service on port 80, and one running task per --backend whose endpoint is
// that address — served by ingress.NewProxy on --listen. It prints
// "listening on ADDR" to stdout once it accepts connections.
//
// --sticky adds traefik.http.services.web.loadbalancer.sticky.cookie=true;
// the cookie name (Traefik's default for web@swarm) is printed as
// "cookie NAME". --middlewares gives the router basicauth (user admin,
// password "password", a {SHA} hash), a headers middleware setting one
// request header, and stripprefix /app, in that order. --tls FILE serves
// HTTPS (ServeTLS: net/http, HTTP/1.1 and HTTP/2) with the certificate
// and key in FILE (PEM) on a websecure entry point, the router tls=true. --pprof ADDR serves net/http/pprof there, on its own
// listener, to profile the proxy under load.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address the ingress listens on")
	backends := flag.String("backends", "", "comma-separated backend addresses (HOST:PORT), one task each")
	sticky := flag.Bool("sticky", false, "enable sticky cookies on the Traefik service")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	middlewares := flag.Bool("middlewares", false, "give the router basicauth, headers and stripprefix /app")
	tlsFile := flag.String("tls", "", "serve HTTPS with the certificate and key in this PEM file")
	flag.Parse()

	addrs := strings.Split(*backends, ",")
	if *backends == "" {
		log.Fatal("benchingress: --backends is required")
	}
	labels := map[string]string{
		"traefik.enable":                                     "true",
		"traefik.http.routers.web.rule":                      "PathPrefix(`/`)",
		"traefik.http.routers.web.service":                   "web",
		"traefik.http.services.web.loadbalancer.server.port": "80",
	}
	if *sticky {
		labels["traefik.http.services.web.loadbalancer.sticky.cookie"] = "true"
	}
	if *middlewares {
		labels["traefik.http.routers.web.middlewares"] = "auth,hdr,strip"
		labels["traefik.http.middlewares.auth.basicauth.users"] = "admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="
		labels["traefik.http.middlewares.hdr.headers.customrequestheaders.X-Bench"] = "yes"
		labels["traefik.http.middlewares.strip.stripprefix.prefixes"] = "/app"
	}
	var tlsCfg *tls.Config
	if *tlsFile != "" {
		pem, err := os.ReadFile(*tlsFile)
		if err != nil {
			log.Fatal(err)
		}
		cert, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			log.Fatalf("benchingress: --tls %s: %v", *tlsFile, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		labels["traefik.http.routers.web.tls"] = "true"
	}
	svc := &api.Service{ID: api.NewID(), Spec: api.ServiceSpec{Name: "web", Labels: labels}}
	var tasks []*api.Task
	for i, a := range addrs {
		tasks = append(tasks, &api.Task{
			ID: api.NewID(), ServiceID: svc.ID, ServiceName: "web", Slot: uint64(i + 1),
			DesiredState: api.TaskStateRunning,
			Status:       api.TaskStatus{State: api.TaskStateRunning, Timestamp: time.Now()},
			Endpoints:    []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: a}},
		})
	}

	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	table := ingress.NewTable(ingress.TableOptions{Logger: quiet})
	defer table.Close()
	table.Reset([]*api.Service{svc}, tasks)
	routes := table.Routes()
	if len(routes) != 1 || len(routes[0].Backends) != len(addrs) {
		log.Fatalf("benchingress: routing table is %+v, want one router with %d backends", routes, len(addrs))
	}
	popts := ingress.Options{ErrorLog: quiet}
	if tlsCfg != nil {
		popts.EntryPoint = ingress.EntryPointWebSecure
	}
	proxy := ingress.NewProxy(table, popts)

	if *pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		pln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			log.Fatal(err)
		}
		go func() { _ = http.Serve(pln, mux) }()
		fmt.Printf("pprof on %s\n", pln.Addr())
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		serve := proxy.Serve
		if tlsCfg != nil {
			serve = func(l net.Listener) error { return proxy.ServeTLS(l, tlsCfg) }
		}
		if err := serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	if *sticky {
		fmt.Printf("cookie %s\n", ingress.DefaultCookieName(ingress.QualifiedName("web")))
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = proxy.Shutdown(ctx)
}
