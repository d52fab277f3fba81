// Command signup is the seed story's signup application as one small
// program with a subcommand per service, so that one binary (or one
// FROM scratch image) serves the whole stack:
//
//	signup homepage            the landing page at /, linking to /app/
//	signup web                 the sign-up form under /app/ (anti-forgery
//	                           token in this replica's memory)
//	signup api                 reference data (countries, roles) under /api/
//	signup queue               a NATS server (embedded nats-server)
//	signup handler             takes prospects from the queue into the db
//	signup db                  SQLite behind a small HTTP API
//	signup prospects --data DIR  print the saved prospects as JSON
//	signup health [URL]        GET URL (default http://127.0.0.1:8080/health),
//	                           exit 0 on 200: the services' health check
//
// Every service answers GET /health on its HTTP port (--listen, default
// :$PORT, else :8080). Configs and secrets are read at their targets, or
// below $SHOAL_FILES for a process task, which has no file system of its
// own. SIGNUP_BREAK=health makes /health fail: the "bad release" of the
// walkthrough, which an update with failure_action rollback undoes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: signup homepage|web|api|queue|handler|db|prospects|health [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"homepage": homepageCmd, "web": webCmd, "api": apiCmd, "queue": queueCmd,
		"handler": handlerCmd, "db": dbCmd, "health": healthCmd, "prospects": prospectsCmd,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "signup: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "signup %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// listenAddr is flag, else :$PORT, else :8080.
func listenAddr(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if p := os.Getenv("PORT"); p != "" {
		return net.JoinHostPort(os.Getenv("SHOAL_NODE_ADDR"), p)
	}
	return ":8080"
}

// filePath is where a config or secret with target p is: below
// $SHOAL_FILES for a process task, at p in a container.
func filePath(p string) string {
	if d := os.Getenv("SHOAL_FILES"); d != "" {
		return filepath.Join(d, p)
	}
	return p
}

// replica names the task serving a request, as the seed's pages show
// the container's host name.
func replica() string {
	if n := os.Getenv("SHOAL_TASK_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}

// healthHandler answers 200 while ready() is nil and the release is not
// the broken one.
func healthHandler(ready func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("SIGNUP_BREAK") == "health" {
			http.Error(w, "broken release", http.StatusServiceUnavailable)
			return
		}
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	}
}

// serve runs h on addr until SIGTERM or SIGINT, then finishes the
// requests in flight.
func serve(addr string, h http.Handler) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serveCtx(ctx, addr, h)
}

func serveCtx(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	slog.Info("listening", "addr", ln.Addr().String(), "replica", replica())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func healthCmd(args []string) error {
	url := "http://127.0.0.1:8080/health"
	if len(args) > 0 {
		url = args[0]
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	fmt.Printf("%s: %s\n", resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy")
	}
	return nil
}
