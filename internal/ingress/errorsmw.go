package ingress

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoalproject/shoal/internal/ingress/middleware"
)

// The errors middleware (traefik.http.middlewares.NAME.errors.status,
// .service, .query): a response whose status is in status has its body
// replaced by the page query names on service, a Traefik service of the
// same labels or another service's, with the original status kept, as
// Traefik's. The page is fetched from one of that service's tasks the
// ingress routes to (so the service needs a router: a service without
// routers has no pool in the table). When none answers, the response is
// the status's text. statusRewrites (Traefik v3.4+,
// errors.statusRewrites.418=404, .statusRewrites.502-504=500) changes
// the status of a caught response: the client gets the new one, {status}
// in query is the new one and {originalStatus} the backend's. A status
// no rewrite names keeps its code; ranges that overlap are refused (the
// order of Traefik's map is not defined). It lives here, not in
// middleware/, since it forwards to the table's pools.

// errorPageTimeout bounds fetching an error page.
const errorPageTimeout = 10 * time.Second

// maxErrorPage bounds the error page copied to the client.
const maxErrorPage = 1 << 20

type statusRange struct{ from, to int }

func (r statusRange) has(code int) bool { return code >= r.from && code <= r.to }

// statusRewrite is one statusRewrites option: codes in from become to.
type statusRewrite struct {
	from statusRange
	to   int
}

func (p *labelParser) buildErrors(m *middlewareLabels) middleware.Middleware {
	var ranges []statusRange
	var rewrites []statusRewrite
	var service, query string
	ok := true
	for _, o := range m.opts {
		label := m.labelFor(o.Key)
		v := strings.TrimSpace(o.Value)
		key := strings.ToLower(o.Key)
		if from, found := strings.CutPrefix(key, "statusrewrites."); found {
			rw, msg := parseRewrite(from, v, rewrites)
			if msg != "" {
				p.fail(label, "%s", msg)
				ok = false
				continue
			}
			rewrites = append(rewrites, rw)
			continue
		}
		switch key {
		case "status":
			for _, s := range splitList(v) {
				r, good := parseStatusRange(s)
				if !good {
					p.fail(label, "%q is not a status or a range of them (500, 500-599)", s)
					ok = false
					continue
				}
				ranges = append(ranges, r)
			}
		case "service":
			service = v
		case "query":
			if !strings.HasPrefix(v, "/") {
				p.fail(label, "%q is not a path (want /{status}.html or the like)", v)
				ok = false
			}
			query = v
		default:
			p.fail(label, "unknown errors option (want status, statusRewrites.CODE, service, query)")
			ok = false
		}
	}
	if len(ranges) == 0 && ok {
		p.fail(m.labelFor("status"), "required")
		ok = false
	}
	if service == "" {
		p.fail(m.labelFor("service"), "required: the Traefik service that serves the error pages")
		ok = false
	}
	name := service
	if base, provider, found := strings.Cut(service, "@"); found {
		if !strings.EqualFold(provider, ProviderName) && !strings.EqualFold(provider, "docker") {
			p.fail(m.labelFor("service"), "service %q belongs to provider %q; the error pages come from services' labels", service, provider)
			ok = false
		}
		name = base
	}
	if !ok {
		return nil
	}
	if query == "" {
		query = "/"
	}
	owner, find := p.out.ServiceName, p.env.pool
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ew := &errorWriter{ResponseWriter: w, ranges: ranges}
			next.ServeHTTP(ew, r)
			if ew.caught == 0 {
				return
			}
			var pl *pool
			if find != nil {
				pl = find(owner, name)
			}
			servePage(w, r, pl, ew.caught, rewrite(rewrites, ew.caught), query)
		})
	}
}

// parseRewrite parses statusRewrites.FROM=TO (FROM lower-cased, a status
// or a range); msg says what is wrong, with have the rewrites before it.
func parseRewrite(from, to string, have []statusRewrite) (statusRewrite, string) {
	r, good := parseStatusRange(from)
	if !good {
		return statusRewrite{}, fmt.Sprintf("%q is not a status or a range of them (418, 502-504)", from)
	}
	code, err := strconv.Atoi(to)
	// Not 1xx: an informational status is no answer, and the client
	// would get it and then a 200 with the error text.
	if err != nil || code < 200 || code > 599 {
		return statusRewrite{}, fmt.Sprintf("%q is not a status to answer with (want 200-599)", to)
	}
	for _, h := range have {
		if r.from <= h.from.to && h.from.from <= r.to {
			return statusRewrite{}, fmt.Sprintf("%s overlaps the rewrite of %d-%d; which applies would be undefined", from, h.from.from, h.from.to)
		}
	}
	return statusRewrite{r, code}, ""
}

// rewrite is the status a caught code is answered with.
func rewrite(rewrites []statusRewrite, code int) int {
	for _, rw := range rewrites {
		if rw.from.has(code) {
			return rw.to
		}
	}
	return code
}

func parseStatusRange(s string) (statusRange, bool) {
	from, to, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(strings.TrimSpace(from))
	b := a
	if isRange {
		b, err = strconv.Atoi(strings.TrimSpace(to))
		if err == nil {
			a, _ = strconv.Atoi(strings.TrimSpace(from))
		}
	}
	if err != nil || a < 100 || b > 599 || a > b {
		return statusRange{}, false
	}
	return statusRange{a, b}, true
}

// errorWriter passes a response on, unless its status is one of ranges:
// then it keeps nothing of it (caught is the status).
type errorWriter struct {
	http.ResponseWriter
	ranges []statusRange
	wrote  bool
	caught int
}

func (e *errorWriter) WriteHeader(code int) {
	if e.wrote {
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		e.wrote = true
	}
	for _, r := range e.ranges {
		if r.has(code) {
			e.caught = code
			return
		}
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *errorWriter) Write(b []byte) (int, error) {
	if !e.wrote {
		e.WriteHeader(http.StatusOK)
	}
	if e.caught != 0 {
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

func (e *errorWriter) Flush() {
	if e.caught == 0 {
		http.NewResponseController(e.ResponseWriter).Flush()
	}
}

func (e *errorWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// servePage answers r with status and the page query names, fetched from
// a task of pl; with none, the status's text. original is the backend's
// status, status the one after statusRewrites.
func servePage(w http.ResponseWriter, r *http.Request, pl *pool, original, status int, query string) {
	for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Type", "Etag", "Last-Modified", "Content-Range", "Accept-Ranges"} {
		w.Header().Del(k)
	}
	resp := fetchPage(r, pl, original, status, query)
	if resp == nil {
		http.Error(w, strconv.Itoa(status)+" "+http.StatusText(status), status)
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, maxErrorPage))
}

func fetchPage(r *http.Request, pl *pool, original, status int, query string) *http.Response {
	if pl == nil {
		return nil
	}
	b := pl.pick(nil)
	if b == nil {
		return nil
	}
	q := strings.ReplaceAll(query, "{status}", strconv.Itoa(status))
	q = strings.ReplaceAll(q, "{originalStatus}", strconv.Itoa(original))
	q = strings.ReplaceAll(q, "{url}", url.QueryEscape(r.URL.String()))
	ctx, cancel := context.WithTimeout(r.Context(), errorPageTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pl.lb.urlScheme()+"://"+b.addr+q, nil)
	if err != nil {
		cancel()
		return nil
	}
	req.Host = r.Host
	req.Header.Set("Accept", r.Header.Get("Accept"))
	b.inflight.Add(1)
	resp, err := b.transport.RoundTrip(req)
	b.inflight.Add(-1)
	if err != nil || resp.StatusCode >= 400 {
		if resp != nil {
			resp.Body.Close()
		}
		cancel()
		return nil
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
