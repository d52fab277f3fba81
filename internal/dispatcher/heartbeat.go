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
}

func newHeartbeat(first, timeout time.Duration, onExpire func()) *heartbeat {
	h := &heartbeat{timeout: timeout}
	h.timer = time.AfterFunc(first, onExpire)
	return h
}

// beat pushes the expiry back by the timeout.
func (h *heartbeat) beat() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.timer.Reset(h.timeout)
	}
}

// stop disarms the detector.
func (h *heartbeat) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.timer.Stop()
}
