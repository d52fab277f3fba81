package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/state"
)

// startIngress serves the HTTP ingress on cfg.IngressAddr, routing by the services'
// Traefik labels to their healthy running tasks. Its table follows the
// store's change stream, so a task joins or leaves the pool the moment
// its state changes.
func (d *Dev) startIngress(ctx context.Context, cfg DevConfig, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.IngressAddr)
	if err != nil {
		return fmt.Errorf("ingress: listen on %s: %w (pass another --ingress address, or --ingress off)", cfg.IngressAddr, err)
	}
	table := ingress.NewTable(ingress.TableOptions{Logger: log, RequireEnable: cfg.IngressRequireEnable})
	opts := ingress.Options{EntryPoint: "web", ErrorLog: log, MaxBodyBytes: cfg.IngressMaxBodyBytes}
	if cfg.IngressAccessLog {
		opts.AccessLog = log.With("log", "access")
	}
	proxy := ingress.NewProxy(table, opts)
	d.ingressAddr = ln.Addr().String()
	d.ingressTable = table
	tx, sub := d.mgr.Store().Subscribe()
	table.Reset(tx.Services(), tx.Tasks())
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		defer sub.Close()
		followStore(ctx, d.mgr.Store(), sub, table)
	}()
	go func() {
		defer d.wg.Done()
		if err := proxy.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ingress stopped", "err", err)
		}
	}()
	d.ingressStop = func(ctx context.Context) error {
		err := proxy.Shutdown(ctx)
		table.Close()
		return err
	}
	return nil
}

// followStore applies the store's changes to the routing table until ctx
// ends.
func followStore(ctx context.Context, store *state.Store, sub *state.Subscription, table *ingress.Table) {
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Type == state.EventReset {
				tx := store.Read()
				table.Reset(tx.Services(), tx.Tasks())
				evs = nil
				break
			}
		}
		table.Apply(evs...)
	}
}

// IngressAddr is the address the ingress listens on, empty without one.
func (d *Dev) IngressAddr() string { return d.ingressAddr }

// Ingress is the routing table, for its statistics.
func (d *Dev) Ingress() *ingress.Table { return d.ingressTable }
