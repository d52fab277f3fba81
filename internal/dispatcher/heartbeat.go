package dispatcher

import (
	"sync"
	"time"
)

// heartbeat is one node's failure detector: it calls onExpire when no beat
// arrives within the timeout (the first within first).
type heartbeat struct {
	mu      sync.Mutex
	timer   *time.Timer
	timeout time.Duration
	stopped bool
	// last is when the node last beat (or was armed), for the gap.
	last time.Time
}

func newHeartbeat(first, timeout time.Duration, onExpire func()) *heartbeat {
	h := &heartbeat{timeout: timeout, last: time.Now()}
	h.timer = time.AfterFunc(first, onExpire)
	return h
}

// beat pushes the expiry back by the timeout and returns the time since
// the last beat.
func (h *heartbeat) beat() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	gap := now.Sub(h.last)
	h.last = now
	if !h.stopped {
		h.timer.Reset(h.timeout)
	}
	return gap
}

// stop disarms the detector.
func (h *heartbeat) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.timer.Stop()
}
