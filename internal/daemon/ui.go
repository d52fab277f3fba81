package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/httpjson"
	"github.com/shoalproject/shoal/internal/ui"
)

// dashboard is the web dashboard a manager serves on --ui.
type dashboard struct {
	ui   *ui.Server
	srv  *http.Server
	addr string
	// base is the URL browsers reach the listener at.
	base string
}

// serveUI serves the dashboard on TCP addr, if any. It talks to this manager's
// API socket, so its actions are the API's (validated, forwarded to the
// leader).
func (d *Dev) serveUI(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	c, err := client.New("unix://" + d.socket)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard listener: %w", err)
	}
	d.dash.addr = ln.Addr().String()
	d.dash.base = "http://" + uiHost(d.dash.addr, d.addr)
	hosts := ui.LoopbackHosts(d.dash.addr)
	if hosts == nil {
		log.Warn("the dashboard is plain HTTP on an address others reach: its session cookies cross the network in the clear; prefer a loopback address and an SSH tunnel", "addr", d.dash.addr)
	}
	d.dash.ui = ui.New(ui.Config{Client: c, Hosts: hosts, Logger: log})
	// No WriteTimeout or ReadTimeout: the event stream lasts (a read
	// deadline that passes while it streams ends it), and sets a
	// deadline on each of its writes instead; bodies have their own.
	d.dash.srv = &http.Server{Handler: bodyDeadline(d.dash.ui, agentBodyTimeout), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	d.dash.srv.RegisterOnShutdown(d.dash.ui.CloseStreams)
	if d.ingress != nil {
		// Routers sent to api@internal reach this dashboard in-process.
		d.ingress.table.SetInternalAPI(d.dash.ui.Routed())
	}
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		d.dash.ui.Run(ctx)
	}()
	go func() {
		defer d.wg.Done()
		if err := d.dash.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("dashboard server stopped", "err", err)
		}
	}()
	return nil
}

// uiHost is the host:port of listener addr as a browser names it: the
// node's address when the listener takes every address.
func uiHost(addr, nodeAddr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = nodeAddr
	}
	return net.JoinHostPort(host, port)
}

// UILoginURL is a fresh one-time login URL of the dashboard, empty when
// this manager serves none.
func (d *Dev) UILoginURL() string {
	if d.dash.ui == nil {
		return ""
	}
	return d.dash.base + ui.LoginPath(d.dash.ui.NewLoginToken())
}

// UIAddr is the dashboard listener's address, empty when there is none.
func (d *Dev) UIAddr() string { return d.dash.addr }

// withUILogin adds to the API socket POST /v1/ui/login, which answers a
// fresh login URL of this manager's dashboard (`shoal ui url`). It is
// outside the leader forwarding: the URL is this manager's.
func (d *Dev) withUILogin(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/ui/login", func(w http.ResponseWriter, _ *http.Request) {
		u := d.UILoginURL()
		if u == "" {
			httpjson.WriteError(w, http.StatusNotFound, "this manager serves no dashboard: start it with --ui ADDR")
			return
		}
		httpjson.Write(w, http.StatusOK, client.UILogin{URL: u})
	})
	mux.Handle("/", api)
	return mux
}
