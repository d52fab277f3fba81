package updater

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
)

// decideWithin returns at once, without grouping slots, when no update
// is active and every task is of the service's spec version. That skip
// rests on this: for any tasks (slots, nodes, states, desired states,
// versions) and nodes (up, down, drained), a slot holds an outdated task
// only if some task is of another version.
func TestPropertyOutdatedNeedsAnotherVersion(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		global := rapid.Bool().Draw(rt, "global")
		svc := &api.Service{ID: "s1", SpecVersion: 3, Spec: api.ServiceSpec{Name: "web",
			Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 3}}}}
		if global {
			svc.Spec.Mode = api.ServiceMode{Global: &api.GlobalService{}}
		}
		nodeIDs := []string{"", "n1", "n2", "n3"}
		down := map[string]bool{}
		for _, n := range nodeIDs[1:] {
			down[n] = rapid.Bool().Draw(rt, "down "+n)
		}
		nodes := func(id string) api.SlotNode {
			return api.SlotNode{Down: down[id], Drained: id == "n3"}
		}
		var tasks []*api.Task
		for i := range rapid.IntRange(0, 8).Draw(rt, "tasks") {
			tasks = append(tasks, &api.Task{
				ID:           string(rune('a' + i)),
				ServiceID:    svc.ID,
				Slot:         rapid.Uint64Range(0, 4).Draw(rt, "slot"),
				NodeID:       rapid.SampledFrom(nodeIDs).Draw(rt, "node"),
				SpecVersion:  rapid.Uint64Range(2, 4).Draw(rt, "version"),
				DesiredState: rapid.SampledFrom([]api.TaskState{api.TaskStateRunning, api.TaskStateShutdown, api.TaskStateRemove}).Draw(rt, "desired"),
				Status: api.TaskStatus{State: rapid.SampledFrom([]api.TaskState{api.TaskStatePending, api.TaskStateAssigned,
					api.TaskStateRunning, api.TaskStateFailed, api.TaskStateShutdown}).Draw(rt, "state"),
					Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			})
		}
		outdated := false
		for _, s := range groupSlots(svc, tasks, nodes, nil) {
			outdated = outdated || len(s.outdated) > 0
		}
		if outdated && !anyOtherVersion(tasks, svc.SpecVersion) {
			rt.Fatalf("a slot is outdated with every task at version %d", svc.SpecVersion)
		}
	})
}
