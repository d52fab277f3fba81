package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/state"
)

// IngressConfig sets up a node's HTTP ingress.
type IngressConfig struct {
	// Addr is where it listens ("127.0.0.1:0" picks a port).
	Addr string
	// AccessLog logs every request the ingress serves.
	AccessLog bool
	// RequireEnable routes only services labelled traefik.enable=true
	// (Traefik's exposedByDefault=false).
	RequireEnable bool
	// MaxBodyBytes bounds request bodies (0: unbounded).
	MaxBodyBytes int64
	// MaxConns bounds the client connections open at once; 0 sizes it
	// from the open-file limit (defaultIngressMaxConns).
	MaxConns int
	// IdleTimeout closes a client keep-alive connection idle this long
	// (0: 180s, Traefik's).
	IdleTimeout time.Duration
	// ResponseHeaderTimeout answers 504 when a backend has not started
	// its response this long after the request (0: the ingress's
	// default, ingress.DefaultResponseHeaderTimeout; negative: none).
	ResponseHeaderTimeout time.Duration
	// AllowEncodedSlash and AllowEncodedBackslash let request paths hold
	// %2F and %5C, which are otherwise answered 400
	// (ingress.Options).
	AllowEncodedSlash, AllowEncodedBackslash bool
	// TLSAddr, when set, is where the websecure entry point listens:
	// HTTPS (HTTP/1.1 and HTTP/2, TLS 1.2 and up) with Certificates, the
	// one for each connection chosen by SNI. Routers with tls=true are
	// served there and only there.
	TLSAddr      string
	Certificates []tls.Certificate
	// ClientCAs, when set, make the websecure entry point ask clients
	// for a certificate and verify one given against them (Traefik's
	// clientAuthType VerifyClientCertIfGiven), for passtlsclientcert.
	ClientCAs *x509.CertPool
	// TLSOptions are the websecure entry point's TLS options
	// (--ingress-tls-options), which routers name with tls.options;
	// nil is Traefik's default only.
	TLSOptions *ingress.TLSOptionSet
	// TLSFiles, when either is set, are the files TLSOptions and
	// ClientCAs were read from: the websecure entry point reads them
	// again when they change, and at each value of TLSReload (SIGHUP),
	// keeping the options in force when they no longer load.
	TLSFiles  ingress.TLSFiles
	TLSReload <-chan struct{}
	// TrustedProxies are the peers, on both entry points, whose
	// X-Forwarded-* headers are kept and appended to (Traefik's
	// forwardedHeaders.trustedIPs): a load balancer in front of the
	// nodes. Others' are replaced, so ipStrategy.depth finds no address
	// for them.
	TrustedProxies []netip.Prefix
	// Secrets reads the secrets services' labels name (usersFile); nil
	// refuses such services (ingress.TableOptions.Secrets).
	Secrets ingress.SecretReader
}

// nodeIngress is a node's running HTTP ingress: it routes by the services'
// Traefik labels to their healthy running tasks, on whatever node they
// run. Whoever starts it keeps its table current.
type nodeIngress struct {
	addr string
	// tlsAddr is the websecure entry point's address, empty without one.
	tlsAddr string
	table   *ingress.Table
	stop    func(context.Context) error
}

// startIngress listens on cfg.Addr at once, so that a taken port fails
// the start, and serves the proxy from when ready closes (nil: at once)
// until stop: connections that arrive before wait for the routes instead
// of being answered 404 by an empty table.
func startIngress(cfg IngressConfig, ready <-chan struct{}, wg *sync.WaitGroup, log *slog.Logger) (*nodeIngress, error) {
	if cfg.MaxConns < 0 || cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("ingress: negative connection limit (%d) or idle timeout (%s)", cfg.MaxConns, cfg.IdleTimeout)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ingress: listen on %s: %w (pass another --ingress address, or --ingress off)", cfg.Addr, err)
	}
	var tlsLn net.Listener
	if cfg.TLSAddr != "" {
		if tlsLn, err = net.Listen("tcp", cfg.TLSAddr); err != nil {
			ln.Close()
			return nil, fmt.Errorf("ingress: listen on %s: %w (pass another --ingress-tls address)", cfg.TLSAddr, err)
		}
	}
	tlsOpts := cfg.TLSOptions
	if tlsOpts == nil {
		tlsOpts = ingress.DefaultTLSOptions()
	}
	if cfg.ClientCAs != nil {
		if tlsOpts, err = tlsOpts.WithDefaultClientCAs(cfg.ClientCAs); err != nil {
			ln.Close()
			if tlsLn != nil {
				tlsLn.Close()
			}
			return nil, fmt.Errorf("ingress: %w", err)
		}
	}
	for _, w := range tlsOpts.Warnings {
		log.Warn("ingress TLS options", "warning", w)
	}
	maxConns := ingressMaxConns(cfg.MaxConns, openFileLimit(), log)
	log.Info("ingress connection limits", "max_conns", maxConns, "idle_timeout", cfg.IdleTimeout)
	table := ingress.NewTable(ingress.TableOptions{Logger: log, RequireEnable: cfg.RequireEnable,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout, Secrets: cfg.Secrets, TLSOptions: tlsOpts})
	opts := ingress.Options{ErrorLog: log, MaxBodyBytes: cfg.MaxBodyBytes,
		MaxConns: maxConns, IdleTimeout: cfg.IdleTimeout,
		AllowEncodedSlash: cfg.AllowEncodedSlash, AllowEncodedBackslash: cfg.AllowEncodedBackslash,
		TrustedProxies: cfg.TrustedProxies}
	if cfg.AccessLog {
		opts.AccessLog = log.With("log", "access")
	}
	quit := make(chan struct{})
	// serve runs one entry point from when ready closes until stop.
	serve := func(ln net.Listener, run func(net.Listener) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Serve closes ln, unless the proxy was shut down before it began.
			defer ln.Close()
			if ready != nil {
				select {
				case <-ready:
				case <-quit:
					return
				}
			}
			if err := run(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("ingress stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
	opts.EntryPoint = ingress.EntryPointWeb
	proxy := ingress.NewProxy(table, opts)
	serve(ln, proxy.Serve)
	in := &nodeIngress{addr: ln.Addr().String(), table: table}
	proxies := []*ingress.Proxy{proxy}
	if tlsLn != nil {
		opts.EntryPoint = ingress.EntryPointWebSecure
		secure := ingress.NewProxy(table, opts)
		// The services' certificates (labels) first, by SNI, then the
		// node's own; versions, suites and client certificates are the
		// TLS options' (the table's, chosen by SNI).
		tlsCfg := &tls.Config{Certificates: cfg.Certificates, MinVersion: tls.VersionTLS12, GetCertificate: table.Certificate}
		serve(tlsLn, func(l net.Listener) error { return secure.ServeTLS(l, tlsCfg) })
		in.tlsAddr = tlsLn.Addr().String()
		proxies = append(proxies, secure)
	}
	// The TLS options are read again when their files change, and on
	// SIGHUP, until stop.
	reloadCtx, stopReload := context.WithCancel(context.Background())
	if tlsLn != nil && cfg.TLSFiles != (ingress.TLSFiles{}) {
		reloader := &ingress.TLSReloader{Files: cfg.TLSFiles, Table: table, Log: log}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := reloader.Run(reloadCtx, cfg.TLSReload); err != nil {
				log.Error("ingress: TLS options are no longer reloaded", "err", err)
			}
		}()
	}
	var once sync.Once
	in.stop = func(ctx context.Context) error {
		once.Do(func() {
			close(quit)
			stopReload()
		})
		var errs []error
		for _, p := range proxies {
			errs = append(errs, p.Shutdown(ctx))
		}
		table.Close()
		return errors.Join(errs...)
	}
	return in, nil
}

// startIngress serves the manager node's ingress; followCluster feeds
// its table.
func (d *Dev) startIngress(cfg DevConfig, ready <-chan struct{}, log *slog.Logger) error {
	in, err := startIngress(IngressConfig{Addr: cfg.IngressAddr, AccessLog: cfg.IngressAccessLog,
		RequireEnable: cfg.IngressRequireEnable, MaxBodyBytes: cfg.IngressMaxBodyBytes,
		MaxConns: cfg.IngressMaxConns, IdleTimeout: cfg.IngressIdleTimeout, ResponseHeaderTimeout: cfg.IngressResponseHeaderTimeout,
		AllowEncodedSlash: cfg.IngressAllowEncodedSlash, AllowEncodedBackslash: cfg.IngressAllowEncodedBackslash,
		TLSAddr: cfg.IngressTLSAddr, Certificates: cfg.IngressCertificates, ClientCAs: cfg.IngressClientCAs,
		TLSOptions: cfg.IngressTLSOptions, TLSFiles: cfg.IngressTLSFiles, TLSReload: cfg.IngressTLSReload,
		TrustedProxies: cfg.IngressTrustedProxies, Secrets: d.readSecret}, ready, &d.wg, log)
	if err != nil {
		return err
	}
	d.ingress = in
	registerIngress(d.metrics.Registry(), in)
	return nil
}

// readSecret opens, for the manager node's ingress, a secret a service's
// labels name, from the store this manager holds.
func (d *Dev) readSecret(ref api.SecretReference) ([]byte, error) {
	sec, err := d.mgr.Dispatcher().OpenSecret(d.mgr.Store().Read(), ref)
	if err != nil {
		return nil, err
	}
	return sec.Spec.Data, nil
}

// ingressSecrets are the secrets a worker's ingress was sent (the
// routes stream's), by ID.
type ingressSecrets struct {
	mu   sync.Mutex
	byID map[string]*api.Secret
}

// update takes the secrets of one line of the routes stream; a reset
// line's replace them all.
func (s *ingressSecrets) update(reset bool, secs []*api.Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reset || s.byID == nil {
		s.byID = map[string]*api.Secret{}
	}
	for _, sec := range secs {
		s.byID[sec.ID] = sec
	}
}

// read is the ingress's SecretReader.
func (s *ingressSecrets) read(ref api.SecretReference) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.byID[ref.SecretID]; sec != nil {
		return sec.Spec.Data, nil
	}
	return nil, fmt.Errorf("the managers sent this node no secret %s", ref.SecretName)
}

// followCluster feeds the ingress's table and the routing mesh from the
// store's change stream, so a task joins or leaves their pools the moment
// its state changes, and opens gate once they show this node's agent
// registered.
func (d *Dev) followCluster(ctx context.Context, gate *registeredGate) {
	var to sinks
	if d.ingress != nil {
		to = append(to, d.ingress.table)
	}
	if d.mesh != nil {
		to = append(to, d.mesh)
	}
	if len(to) == 0 {
		return
	}
	tx, sub := d.mgr.Store().Subscribe()
	to.Reset(tx.Services(), tx.Tasks())
	gate.nodes(tx.Nodes()...)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer sub.Close()
		followStore(ctx, d.mgr.Store(), sub, to, gate)
	}()
}

// followStore applies the store's changes to to until ctx ends, and tells
// gate of the nodes once they are applied.
func followStore(ctx context.Context, store *state.Store, sub *state.Subscription, to routeSink, gate *registeredGate) {
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Type == state.EventReset {
				tx := store.Read()
				to.Reset(tx.Services(), tx.Tasks())
				gate.nodes(tx.Nodes()...)
				evs = nil
				break
			}
		}
		to.Apply(evs...)
		gate.events(evs...)
	}
}

// ingressRoutes lists what the node's ingress serves, for the API.
func (d *Dev) ingressRoutes() []api.IngressRoute {
	out := []api.IngressRoute{}
	if d.ingress == nil {
		return out
	}
	for _, r := range d.ingress.table.Routes() {
		out = append(out, api.IngressRoute{Service: r.Service, Router: r.Router, LoadBalancer: r.LoadBalancer,
			Rule: r.Rule, Priority: r.Priority, EntryPoints: r.EntryPoints, Middlewares: r.Middlewares,
			Refused: r.Refused, Backends: r.Backends, StickyCookie: r.StickyCookie})
	}
	return out
}

// IngressAddr is the address the ingress listens on, empty without one.
func (d *Dev) IngressAddr() string {
	if d.ingress == nil {
		return ""
	}
	return d.ingress.addr
}

// IngressTLSAddr is the address of the ingress's websecure entry point,
// empty without one.
func (d *Dev) IngressTLSAddr() string {
	if d.ingress == nil {
		return ""
	}
	return d.ingress.tlsAddr
}

// Ingress is the routing table, for its statistics; nil without an
// ingress.
func (d *Dev) Ingress() *ingress.Table {
	if d.ingress == nil {
		return nil
	}
	return d.ingress.table
}

// tlsInForce is cfg with the TLS options in's table has in force, for
// the ingress a promoted node's manager starts: its agent's may have
// been reloaded since the process read cfg's, and the files may no
// longer load. Their default entry holds ClientCAs already.
func (in *nodeIngress) tlsInForce(cfg IngressConfig) IngressConfig {
	if in == nil || cfg.TLSFiles == (ingress.TLSFiles{}) {
		return cfg // never reloaded
	}
	if set := in.table.TLSOptions(); set != nil {
		cfg.TLSOptions, cfg.ClientCAs = set, nil
	}
	return cfg
}
