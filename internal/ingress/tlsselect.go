package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/shoalproject/shoal/internal/ingress/rules"
)

// Which TLS options a handshake gets, as Traefik chooses them: the
// options of the routers whose Host rules (or tls.domains) name the
// server name the client sent (SNI), default when none does or when
// routers of one name ask for different options (then Traefik logs the
// conflict and uses default; so does the table). A request whose Host
// has other options than its connection's server name is answered 421
// Misdirected Request (Traefik's snicheck), so that a connection made
// for a name without client certificates cannot reach a router that
// requires them.

// sniOptions gives a server name's TLS options.
type sniOptions struct {
	exact map[string]string // lower-cased host → options
	wild  map[string]string // ".example.com", from *.example.com → options
}

// lookup returns the options of a server name or Host (port removed).
func (s sniOptions) lookup(name string) string {
	if s.exact == nil && s.wild == nil || name == "" {
		return DefaultTLSOption
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if o, ok := s.exact[name]; ok {
		return o
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if o, ok := s.wild[name[i:]]; ok {
			return o
		}
	}
	return DefaultTLSOption
}

// sniOptions maps the names of the snapshot's TLS routers to their
// options; nil maps when every name has the default ones. Conflicts are
// logged when they change.
func (t *Table) sniOptions(routes []*route) sniOptions {
	claims := map[string]map[string][]string{} // name → options → routers
	for _, rt := range routes {
		if rt.refused != "" || !rt.rule.TLS || len(rt.entryPoints) > 0 && !containsFold(rt.entryPoints, EntryPointWebSecure) {
			continue
		}
		opt := rt.rule.TLSOptions
		if opt == "" {
			opt = DefaultTLSOption
		}
		for _, n := range append(rt.rule.Rule.Hosts(), rt.rule.TLSDomains...) {
			if claims[n] == nil {
				claims[n] = map[string][]string{}
			}
			claims[n][opt] = append(claims[n][opt], rt.key)
		}
	}
	var out sniOptions
	var conflicts []string
	custom := false
	for n, byOpt := range claims {
		opt := DefaultTLSOption
		if len(byOpt) == 1 {
			for o := range byOpt {
				opt = o
			}
		} else {
			var desc []string
			for o, rs := range byOpt {
				desc = append(desc, fmt.Sprintf("%s (%s)", o, strings.Join(rs, ", ")))
			}
			sort.Strings(desc)
			conflicts = append(conflicts, n+": "+strings.Join(desc, ", "))
		}
		custom = custom || opt != DefaultTLSOption
		m := &out.exact
		if strings.HasPrefix(n, "*.") {
			m, n = &out.wild, n[1:]
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[n] = opt
	}
	sort.Strings(conflicts)
	if c := strings.Join(conflicts, "; "); c != t.sniConflicts {
		t.sniConflicts = c
		if c != "" {
			t.opts.Logger.Warn("ingress: routers of one host name different TLS options; those hosts get the default options, as in Traefik", "conflicts", c)
		}
	}
	if !custom {
		return sniOptions{}
	}
	return out
}

// unknownTLSOptionsRoute is router r of service name, whose TLS options
// this node does not have: it answers 503 naming the label.
func (t *Table) unknownTLSOptionsRoute(name string, r *Router) *route {
	key := name + "/" + r.Name
	reason := fmt.Sprintf("traefik.http.routers.%s.tls.options: this node's ingress has no TLS options %q (--ingress-tls-options defines %s)",
		r.Name, r.TLSOptions, strings.Join(t.tlsSet.Names(), ", "))
	return &route{
		key: key, service: name, rule: r, entryPoints: r.EntryPoints, stats: t.stats.router(key, name+"/"+r.Service),
		refused: fmt.Sprintf("503 Service Unavailable: router %s of service %s: %s", r.Name, name, reason),
		reason:  reason,
	}
}

// routeTLSOption are the options router r names (default when none)
// among the table's, or nil when the node has none of that name.
func (t *Table) routeTLSOption(r *Router) *TLSOption {
	name := r.TLSOptions
	if name == "" {
		name = DefaultTLSOption
	}
	return t.tlsSet.Lookup(name)
}

// tlsConfigs are the handshake configurations of one option set.
type tlsConfigs struct {
	set    *TLSOptionSet
	byName map[string]*tls.Config
}

// withTLSOptions is base, the websecure entry point's configuration,
// choosing for each handshake the TLS options of its server name: each
// option's versions, suites, curves, ALPN and client certificates
// replace base's. The options are the current snapshot's, so a handshake
// after SetTLSOptions gets the new ones; their configurations are built
// once per set, by the first handshake that sees it. A table without
// options serves base as given until SetTLSOptions gives it some (never,
// when base chooses configurations itself).
func (p *Proxy) withTLSOptions(base *tls.Config) *tls.Config {
	if base.GetConfigForClient != nil && p.table.snap.Load().tls == nil {
		return base // the embedder's configuration, as given
	}
	var cache atomic.Pointer[tlsConfigs]
	out := base.Clone()
	out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		s := p.table.snap.Load()
		if s.tls == nil {
			return nil, nil
		}
		cc := cache.Load()
		if cc == nil || cc.set != s.tls {
			cc = buildTLSConfigs(base, s.tls)
			cache.Store(cc)
		}
		name := s.sni.lookup(hello.ServerName)
		o, c := s.tls.byName[name], cc.byName[name]
		if c == nil {
			o, c = s.tls.byName[DefaultTLSOption], cc.byName[DefaultTLSOption]
		}
		// Remembered for the connection's requests: routeMisdirected.
		p.tlsChosen.Store(hello.Conn, o)
		return c, nil
	}
	return out
}

// buildTLSConfigs clones base for each option of set.
func buildTLSConfigs(base *tls.Config, set *TLSOptionSet) *tlsConfigs {
	cc := &tlsConfigs{set: set, byName: make(map[string]*tls.Config, len(set.byName))}
	for n, o := range set.byName {
		c := base.Clone()
		o.apply(c)
		if o.SNIStrict {
			c.GetCertificate = strictCertificate(base.GetCertificate, base.Certificates)
			c.Certificates = nil
		}
		cc.byName[n] = c
	}
	return cc
}

// strictCertificate is sniStrict's GetCertificate: the certificate of a
// service's labels or of the node that the server name names, or a
// refused handshake.
func strictCertificate(get func(*tls.ClientHelloInfo) (*tls.Certificate, error), certs []tls.Certificate) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	certs = slices.Clone(certs)
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName == "" {
			return nil, errors.New("sniStrict: the client sent no server name")
		}
		if get != nil {
			if c, err := get(hello); c != nil || err != nil {
				return c, err
			}
		}
		for i := range certs {
			if hello.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
		return nil, fmt.Errorf("sniStrict: no certificate for %q", hello.ServerName)
	}
}

// misdirected reports whether a request for host came over a connection
// made for serverName whose TLS options differ (domain fronting).
func (p *Proxy) misdirected(serverName, host string) bool {
	s := p.table.snap.Load().sni
	if s.exact == nil && s.wild == nil {
		return false
	}
	host = rules.HostName(host)
	if strings.EqualFold(host, serverName) {
		return false
	}
	return s.lookup(host) != s.lookup(serverName)
}

// routeMisdirected reports whether rt, whose TLS options ask for client
// certificates, is reached over a connection whose handshake got other
// options (connOpt): one made before rt's options changed, or before
// SetTLSOptions changed what its name holds (options are compared as
// the handshake got them, not by name), for a host whose routers'
// options conflict (default), or, rt's rule naming no host, for a
// server name with other options. The Host check (misdirected) cannot
// see these: it compares today's options of two names, not the
// handshake's. Options that ask for no certificate, or only for an
// optional one the connection did not present, are satisfied by any
// connection, as in Traefik. A connection whose handshake got no
// options (the table had none then: ServeTLS's configuration as given)
// counts as one made under other options: SetTLSOptions may since have
// given its router options that ask for a certificate.
func (p *Proxy) routeMisdirected(connOpt *TLSOption, st *tls.ConnectionState, rt *route) bool {
	o := rt.tlsOpt
	if o == nil || o == connOpt {
		return false // refused (503), or the handshake's own
	}
	switch o.ClientAuth {
	case tls.NoClientCert:
		return false
	case tls.RequestClientCert, tls.VerifyClientCertIfGiven:
		return len(st.PeerCertificates) > 0
	}
	return true
}

// connTLSOptionKey is the context key of a connection's TLS options.
type connTLSOptionKey struct{}

func withConnTLSOption(ctx context.Context, o *TLSOption) context.Context {
	return context.WithValue(ctx, connTLSOptionKey{}, o)
}

// connTLSOption are the TLS options a request's connection got, or nil.
func connTLSOption(ctx context.Context) *TLSOption {
	o, _ := ctx.Value(connTLSOptionKey{}).(*TLSOption)
	return o
}

// misdirectedMessage is the 421's body.
const misdirectedMessage = "421 Misdirected Request: this host's TLS options differ from those of the server name the connection was made for"

// serveMisdirected answers 421 on the net/http path.
func serveMisdirected(w http.ResponseWriter) {
	http.Error(w, misdirectedMessage, http.StatusMisdirectedRequest)
}
