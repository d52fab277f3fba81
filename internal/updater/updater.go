// Package updater rolls a service's tasks over to its current spec: batch
// by batch (parallelism, delay), stop-first or start-first, watching each
// new task for the monitor window, and pausing, continuing or rolling back
// when tasks fail, as Swarm's update_config says. Its progress lives in the
// service's UpdateStatus and the tasks themselves, so a new leader resumes
// an update where the old one left it.
package updater

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

// Updater is the rolling-update loop. It runs on the leader only.
type Updater struct {
	Store    *state.Store
	Proposer state.Proposer
	Clock    clock.Clock
	Logger   *slog.Logger
}

// Run drives updates until ctx ends or a write fails.
func (u *Updater) Run(ctx context.Context) error {
	tx, sub := u.Store.Subscribe()
	defer sub.Close()
	dirty := map[string]bool{}
	for _, s := range tx.Services() {
		dirty[s.ID] = true
	}
	wakes := map[string]time.Time{}
	var timer clock.Timer
	var timerC <-chan time.Time
	for {
		if len(dirty) > 0 {
			if err := u.pass(ctx, dirty, wakes); err != nil {
				return err
			}
			dirty = map[string]bool{}
			if timer != nil {
				timer.Stop()
				timer, timerC = nil, nil
			}
			var at time.Time
			for _, w := range wakes {
				if at.IsZero() || w.Before(at) {
					at = w
				}
			}
			if !at.IsZero() {
				timer = u.Clock.NewTimer(at.Sub(u.Clock.Now()))
				timerC = timer.C()
			}
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return ctx.Err()
		case <-timerC:
			timer, timerC = nil, nil
			now := u.Clock.Now()
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
			for _, ev := range evs {
				switch ev.Type {
				case api.EventService:
					if ev.Action != api.ActionRemove {
						dirty[ev.ID] = true
					} else {
						delete(wakes, ev.ID)
					}
				case api.EventTask:
					dirty[ev.Task.ServiceID] = true
				case api.EventNode, state.EventReset:
					for _, s := range u.Store.Read().Services() {
						dirty[s.ID] = true
					}
				}
			}
		}
	}
}

// pass looks at each dirty service once and writes what it decides.
func (u *Updater) pass(ctx context.Context, dirty map[string]bool, wakes map[string]time.Time) error {
	tx := u.Store.Read()
	down := func(id string) bool {
		if id == "" {
			return false
		}
		n := tx.Node(id)
		return n == nil || n.Status.State == api.NodeStateDown
	}
	now := u.Clock.Now()
	var ops []state.Op
	for id := range dirty {
		svc := tx.Service(id)
		if svc == nil {
			delete(wakes, id)
			continue
		}
		p := decide(svc, tx.TasksByService(id), down, now)
		if p.wake.IsZero() {
			delete(wakes, id)
		} else {
			wakes[id] = p.wake
		}
		ops = append(ops, p.ops...)
		if p.service != nil {
			// The status write must not undo a change made meanwhile.
			res, err := u.Proposer.Propose(ctx, &state.Command{Time: now, Atomic: true,
				Ops: []state.Op{{Kind: state.OpUpdateService, Service: p.service, ExpectVersion: svc.Version}}})
			if err != nil {
				return err
			}
			if res.Err != nil && !errors.Is(res.Err, state.ErrVersionConflict) && !errors.Is(res.Err, state.ErrNotFound) {
				u.logger().Warn("update status write failed", "service", svc.Spec.Name, "err", res.Err)
			}
			if st := p.service.UpdateStatus; st != nil && res.Err == nil {
				u.logger().Info("service update", "service", svc.Spec.Name, "state", st.State, "message", st.Message)
			}
		}
	}
	if len(ops) == 0 {
		return nil
	}
	_, err := u.Proposer.Propose(ctx, &state.Command{Time: now, Ops: ops})
	return err
}

func (u *Updater) logger() *slog.Logger {
	if u.Logger == nil {
		return slog.Default()
	}
	return u.Logger
}
