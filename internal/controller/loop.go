// Package controller is the event loop the per-service controllers share:
// it marks services dirty from the store's change stream and runs a pass
// over them, and wakes them again at the times their passes ask for (a
// restart delay, an update's monitor window) with one timer on the
// controller's clock. Nothing polls.
package controller

import (
	"context"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

// Pass looks at the dirty services once. It records in wakes the services
// that must be looked at again at a given time, and deletes the others.
type Pass func(ctx context.Context, dirty map[string]bool, wakes map[string]time.Time) error

// Loop runs a Pass on the services that changes touch.
type Loop struct {
	Store *state.Store
	Clock clock.Clock
	// All returns the services a fresh start (or a state reset) looks at.
	All func(tx *state.ReadTx) []string
	// Touched returns the service an event concerns, or "" for none; a
	// node event goes to NodeTouched.
	Touched func(ev api.Event) string
	// NodeTouched returns the services a change to node nodeID concerns,
	// read from tx, which holds the change. Nil looks at every service
	// (All), which at 1,000 nodes re-registering means 1,000 full scans.
	NodeTouched func(tx *state.ReadTx, nodeID string) []string
	Pass        Pass
	// ObservePass, if set, is told how long each pass took (metrics).
	ObservePass func(time.Duration)
}

// Run loops until ctx ends or a pass fails.
func (l *Loop) Run(ctx context.Context) error {
	tx, sub := l.Store.Subscribe()
	defer sub.Close()
	dirty := map[string]bool{}
	markAll := func(tx *state.ReadTx) {
		for _, id := range l.All(tx) {
			dirty[id] = true
		}
	}
	markAll(tx)
	wakes := map[string]time.Time{}
	var timer clock.Timer
	var timerC <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if len(dirty) > 0 {
			start := time.Now()
			if err := l.Pass(ctx, dirty, wakes); err != nil {
				return err
			}
			if l.ObservePass != nil {
				l.ObservePass(time.Since(start))
			}
			dirty = map[string]bool{}
			if timer != nil {
				timer.Stop()
				timer, timerC = nil, nil
			}
		}
		// A timer is armed whenever a wake time waits, also after one
		// that fired a little early by the wall clock (timers run on the
		// monotonic clock, wake times on the wall clock).
		if timer == nil {
			if at, ok := earliest(wakes); ok {
				timer = l.Clock.NewTimer(at.Sub(l.Clock.Now()))
				timerC = timer.C()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timerC:
			timer, timerC = nil, nil
			now := l.Clock.Now()
			for id, at := range wakes {
				if !at.After(now) {
					dirty[id] = true
					delete(wakes, id)
				}
			}
		case <-sub.Ready():
			evs, err := sub.Drain()
			if err != nil {
				return err
			}
			var now *state.ReadTx // one read for the batch's node events
			for _, ev := range evs {
				switch {
				case ev.Type == api.EventNode && l.NodeTouched != nil:
					if now == nil {
						now = l.Store.Read()
					}
					for _, id := range l.NodeTouched(now, ev.ID) {
						dirty[id] = true
					}
				case ev.Type == api.EventNode || ev.Type == state.EventReset:
					markAll(l.Store.Read())
				default:
					if id := l.Touched(ev); id != "" {
						dirty[id] = true
					}
				}
			}
		}
	}
}

func earliest(m map[string]time.Time) (time.Time, bool) {
	var at time.Time
	for _, t := range m {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	return at, !at.IsZero()
}
