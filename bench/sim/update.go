package sim

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// UpdateFigures are what a rolling update measured.
type UpdateFigures struct {
	Tasks int
	// Took is from the first service update until every update completed
	// and every task of the new spec runs.
	Took time.Duration
	// BeatP99 and BeatMax are how late heartbeats landed meanwhile.
	BeatP99, BeatMax time.Duration
	FalseDown        int
	RaftEntries      uint64
	CPU              time.Duration
}

// RollingUpdate forces a rolling update of every service (stop-first,
// parallelism tasks at a time each, monitor 100ms) and waits until all
// completed.
func (c *Cluster) RollingUpdate(ctx context.Context, parallelism uint64) (UpdateFigures, error) {
	var f UpdateFigures
	m := c.Manager
	svcs := m.Store().Read().Services()
	for _, s := range svcs {
		f.Tasks += int(s.Spec.Mode.Replicated.Replicas)
	}
	c.beats.take()
	e0, _, _ := m.Store().AppliedStats()
	cpu0 := cpuTime()
	downs := c.watchDowns()
	start := time.Now()
	for _, s := range svcs {
		spec := s.Spec
		spec.TaskTemplate.ForceUpdate++
		spec.UpdateConfig = &api.UpdateConfig{Parallelism: parallelism, Monitor: api.Duration(100 * time.Millisecond), Order: api.UpdateOrderStopFirst}
		if _, err := m.UpdateService(ctx, s.ID, 0, spec); err != nil {
			return f, fmt.Errorf("update %s: %w", s.Spec.Name, err)
		}
	}
	err := c.Wait(ctx, func(tx *state.ReadTx) bool {
		for _, s := range tx.Services() {
			if s.UpdateStatus == nil || s.UpdateStatus.State != api.UpdateStateCompleted {
				return false
			}
			n := 0
			for _, t := range tx.TasksByService(s.ID) {
				if t.SpecVersion == s.SpecVersion && t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning {
					n++
				}
			}
			if n != int(s.Spec.Mode.Replicated.Replicas) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return f, fmt.Errorf("wait for the updates: %w", err)
	}
	f.Took = time.Since(start)
	f.CPU = cpuTime() - cpu0
	f.FalseDown = downs()
	e1, _, _ := m.Store().AppliedStats()
	f.RaftEntries = e1 - e0
	beats := c.beats.take()
	slices.Sort(beats)
	if len(beats) > 0 {
		f.BeatP99 = beats[len(beats)*99/100]
		f.BeatMax = beats[len(beats)-1]
	}
	return f, nil
}
