package ingress

import (
	"errors"
	"strings"

	"github.com/shoalproject/shoal/internal/ingress/middleware"
)

// middlewareLabels are the traefik.http.middlewares.NAME.* labels of one
// middleware.
type middlewareLabels struct {
	name   string
	prefix string // traefik.http.middlewares.NAME.TYPE, as first written
	typ    string // lower-cased
	opts   []middleware.Option
	labels map[string]string // lower-cased option key → its label
	first  string            // the first label, in sorted order
	// built is the middleware once built (nil with building or failed
	// set); chain middlewares are built from their members.
	built middleware.Middleware
	// fast: every part only acts on the request (middleware.RequestOnly),
	// so the HTTP/1.1 fast path may run it.
	fast     bool
	building bool
	failed   bool
}

// maxChainDepth bounds chains of chains.
const maxChainDepth = 10

func (p *labelParser) middlewareLabel(key string, seg, lseg []string, value string) {
	if len(seg) < 5 {
		p.fail(key, "missing middleware type after the middleware name (traefik.http.middlewares.NAME.TYPE.OPTION)")
		return
	}
	name, typ := seg[3], lseg[4]
	k := strings.ToLower(name)
	m := p.middlewares[k]
	if m == nil {
		m = &middlewareLabels{name: name, prefix: strings.Join(seg[:5], "."), typ: typ, labels: map[string]string{}, first: key}
		p.middlewares[k] = m
		p.mOrder = append(p.mOrder, k)
	} else if m.typ != typ {
		p.fail(key, "middleware %s is already of type %s (set by %s.*); a middleware has one type", name, m.typ, m.prefix)
		return
	}
	opt := strings.Join(seg[5:], ".")
	m.opts = append(m.opts, middleware.Option{Key: opt, Value: value})
	m.labels[strings.ToLower(opt)] = key
}

// buildMiddlewares builds every middleware the labels define, reporting
// each problem at its label, so that one no router uses is checked too
// (as Traefik builds them).
func (p *labelParser) buildMiddlewares() {
	for _, k := range p.mOrder {
		p.buildMiddleware(p.middlewares[k], 0)
	}
}

func (p *labelParser) buildMiddleware(m *middlewareLabels, depth int) middleware.Middleware {
	switch {
	case m.built != nil || m.failed:
		return m.built
	case m.building || depth > maxChainDepth:
		m.failed = true
		p.fail(m.prefix+".middlewares", "chain %s includes itself, or chains are nested deeper than %d", m.name, maxChainDepth)
		return nil
	}
	switch m.typ {
	case "chain":
		return p.buildChain(m, depth)
	case "retry":
		m.built = p.buildRetry(m)
		m.failed = m.built == nil
		return m.built
	case "errors":
		m.built = p.buildErrors(m)
		m.failed = m.built == nil
		return m.built
	}
	mw, err := middleware.NewWithFiles(m.typ, m.opts, p.files)
	if err != nil {
		m.failed = true
		p.optionErrors(m, err)
		return nil
	}
	m.built = mw
	m.fast = middleware.RequestOnly(m.typ, m.opts)
	return mw
}

// buildChain builds a chain middleware: chain.middlewares lists others
// of the same labels, applied in order.
func (p *labelParser) buildChain(m *middlewareLabels, depth int) middleware.Middleware {
	m.building = true
	defer func() { m.building = false }()
	var members string
	for _, o := range m.opts {
		if !strings.EqualFold(o.Key, "middlewares") {
			p.fail(m.labelFor(o.Key), "unknown chain option (want middlewares)")
			m.failed = true
			continue
		}
		members = o.Value
	}
	var ms []middleware.Middleware
	fast := true
	for _, n := range splitList(members) {
		if mw, _, f, ok := p.resolve(m.labelFor("middlewares"), n, depth+1); ok {
			ms = append(ms, mw)
			fast = fast && f
		} else {
			m.failed = true
		}
	}
	if len(ms) == 0 && !m.failed {
		m.failed = true
		p.fail(m.labelFor("middlewares"), "required: the middlewares of the chain")
	}
	if m.failed {
		return nil
	}
	m.built = middleware.Chain(ms...)
	m.fast = fast
	return m.built
}

// resolve builds the middleware named by label: the labels' own, else
// another service's (labelshared.go). NAME, NAME@swarm and NAME@docker
// are the same: every service's labels are the swarm provider's.
// fast is whether the fast path may run it (middlewareLabels.fast).
func (p *labelParser) resolve(label, name string, depth int) (mw middleware.Middleware, display string, fast, ok bool) {
	base := name
	if b, provider, ok := strings.Cut(name, "@"); ok {
		if !strings.EqualFold(provider, ProviderName) && !strings.EqualFold(provider, "docker") {
			p.fail(label, "middleware %q belongs to provider %q; shoal's ingress applies only middlewares defined by services' labels (the %s provider)", name, provider, ProviderName)
			return nil, name, false, false
		}
		base = b
	}
	if m := p.middlewares[strings.ToLower(base)]; m != nil {
		mw := p.buildMiddleware(m, depth)
		return mw, m.name, m.fast, mw != nil
	}
	mw, fast, ok = p.sharedMiddleware(label, name, base)
	return mw, base + "@" + ProviderName, fast, ok
}

// routerMiddleware resolves a router's middlewares, in the order listed;
// fast when the fast path may run them all.
func (p *labelParser) routerMiddleware(r *routerLabels) (mw middleware.Middleware, names []string, fast, ok bool) {
	if len(r.middlewares) == 0 {
		return nil, nil, false, true
	}
	ok, fast = true, true
	var ms []middleware.Middleware
	for _, n := range r.middlewares {
		mw, name, f, built := p.resolve(r.mwLabel, n, 0)
		if !built {
			ok = false
			continue
		}
		ms = append(ms, mw)
		names = append(names, name)
		fast = fast && f
	}
	if !ok {
		return nil, names, false, false
	}
	return middleware.Chain(ms...), names, fast, true
}

// labelFor is the label of one option (the type's label for "").
func (m *middlewareLabels) labelFor(opt string) string {
	if l, ok := m.labels[strings.ToLower(opt)]; ok {
		return l
	}
	if opt == "" {
		return m.first
	}
	return m.prefix + "." + opt
}

// optionErrors reports middleware.New's errors at their labels.
func (p *labelParser) optionErrors(m *middlewareLabels, err error) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var oe *middleware.OptionError
		if errors.As(e, &oe) {
			p.fail(m.labelFor(oe.Key), "%s", oe.Msg)
			continue
		}
		p.fail(m.prefix, "%v", e)
	}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
