package middleware

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ratelimit: average requests per period (default 1s; 0 average is no
// limit), burst (default 1), per source (sourceCriterion, default the
// client IP). As Traefik, a request over the rate waits for its turn
// when that is close (up to half the interval between two requests, or
// 500ms under one request a second) and is answered 429 with
// Retry-After otherwise.
type rateLimit struct {
	limit    rate.Limit
	burst    int
	maxDelay time.Duration
	source   func(*http.Request) string
	next     http.Handler

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxSources bounds the buckets kept (Traefik's figure): a full bucket
// is forgotten first, and when none is, the table starts over.
const maxSources = 65536

func newRateLimit(o *options) Middleware {
	average := o.integer("average", 0, 0)
	period := o.duration("period", time.Second)
	burst := o.integer("burst", 1, 1)
	source := o.sourceCriterion("ip")
	if burst > 1<<20 {
		o.fail("burst", "at most %d", 1<<20)
	}
	if average == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	perSecond := float64(average) * float64(time.Second) / float64(period)
	maxDelay := 500 * time.Millisecond
	if perSecond >= 1 {
		maxDelay = time.Duration(float64(time.Second) / (perSecond * 2))
	}
	return func(next http.Handler) http.Handler {
		return &rateLimit{
			limit: rate.Limit(perSecond), burst: int(burst), maxDelay: maxDelay,
			source: source, next: next, buckets: map[string]*rate.Limiter{},
		}
	}
}

func (rl *rateLimit) bucket(key string, now time.Time) *rate.Limiter {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if b := rl.buckets[key]; b != nil {
		return b
	}
	if len(rl.buckets) >= maxSources {
		for k, b := range rl.buckets {
			if b.TokensAt(now) >= float64(rl.burst) {
				delete(rl.buckets, k)
			}
		}
		if len(rl.buckets) >= maxSources {
			clear(rl.buckets)
		}
	}
	b := rate.NewLimiter(rl.limit, rl.burst)
	rl.buckets[key] = b
	return b
}

func (rl *rateLimit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	res := rl.bucket(rl.source(r), now).ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if !res.OK() || delay > rl.maxDelay {
		res.CancelAt(now)
		tooMany(w, strconv.FormatFloat(math.Ceil(delay.Seconds()), 'f', 0, 64))
		return
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			res.Cancel()
			return
		}
	}
	rl.next.ServeHTTP(w, r)
}
