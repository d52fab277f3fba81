package ingress

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shoalproject/shoal/internal/ingress/middleware"
)

// The retry middleware (traefik.http.middlewares.NAME.retry.attempts,
// .initialInterval) sets how many attempts the forwarder makes for the
// router's requests, and the wait before each retry (Traefik's
// exponential backoff: from initialInterval, growing towards twice it by
// the last retry, never past). What may be retried
// stays the forwarder's policy (forward.go): a request that reached no
// task, or an idempotent one with nothing read from its body and no
// response byte; each attempt goes to another task. It lives here, not
// in middleware/, because it sets the forwarder's per-request state.

// defaultRetryInterval is Traefik's initialInterval.
const defaultRetryInterval = 100 * time.Millisecond

// maxRetryAttempts bounds attempts: each is on a different task.
const maxRetryAttempts = 100

func (p *labelParser) buildRetry(m *middlewareLabels) middleware.Middleware {
	attempts, interval := 0, defaultRetryInterval
	ok := true
	for _, o := range m.opts {
		label := m.labelFor(o.Key)
		switch strings.ToLower(o.Key) {
		case "attempts":
			n, err := strconv.Atoi(strings.TrimSpace(o.Value))
			if err != nil || n < 1 || n > maxRetryAttempts {
				p.fail(label, "%q is not a number of attempts from 1 to %d", o.Value, maxRetryAttempts)
				ok = false
				continue
			}
			attempts = n
		case "initialinterval":
			d, err := parseDuration(strings.TrimSpace(o.Value))
			if err != nil || d < 0 {
				p.fail(label, "%q is not a duration (like 100ms or 1)", o.Value)
				ok = false
				continue
			}
			interval = d
		default:
			p.fail(label, "unknown retry option (want attempts, initialInterval)")
			ok = false
		}
	}
	if attempts == 0 && ok {
		p.fail(m.labelFor("attempts"), "required")
		ok = false
	}
	if !ok {
		return nil
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if call, _ := r.Context().Value(routeKey{}).(*routeCall); call != nil {
				call.st.maxAttempts, call.st.retryInterval = attempts, interval
			}
			next.ServeHTTP(w, r)
		})
	}
}
