package scheduler

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// TestViewEqualsFullScanAfterAnyEvents: the scheduler's view, kept from
// events (and from its own placements before their events arrive), equals
// a full scan of the store after every step of a random sequence of node
// and task changes.
func TestViewEqualsFullScanAfterAnyEvents(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, nil, nil)
		tx, sub := c.store.Subscribe()
		defer sub.Close()
		v := newView(tx)
		now := t0.Add(time.Duration(rapid.IntRange(0, 10).Draw(rt, "minutes")) * time.Minute)
		nodeIDs := []string{"n0", "n1", "n2", "n3"}
		var taskIDs []string
		for step := range rapid.IntRange(1, 40).Draw(rt, "steps") {
			var ops []state.Op
			switch rapid.IntRange(0, 7).Draw(rt, "kind") {
			case 0: // a node joins or changes
				n := genNode(rt, rapid.IntRange(0, len(nodeIDs)-1).Draw(rt, "node"))
				ops = append(ops, state.Op{Kind: state.OpUpsertNode, Node: n})
			case 1: // a node goes
				ops = append(ops, state.Op{Kind: state.OpDeleteNode, ID: rapid.SampledFrom(nodeIDs).Draw(rt, "node")})
			case 2, 3: // a task is made, pending or already placed
				tk := genViewTask(rt, fmt.Sprintf("t%d", step), nodeIDs)
				taskIDs = append(taskIDs, tk.ID)
				ops = append(ops, state.Op{Kind: state.OpCreateTask, Task: tk})
			case 4: // a task moves on
				if len(taskIDs) > 0 {
					st := rapid.SampledFrom([]api.TaskState{api.TaskStateStarting, api.TaskStateRunning,
						api.TaskStateComplete, api.TaskStateShutdown, api.TaskStateFailed, api.TaskStateRejected}).Draw(rt, "state")
					at := t0.Add(-time.Duration(rapid.IntRange(0, 8).Draw(rt, "ago")) * time.Minute)
					ops = append(ops, state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{
						TaskID: rapid.SampledFrom(taskIDs).Draw(rt, "task"), Status: api.TaskStatus{State: st, Timestamp: at}}})
				}
			case 5: // a task is told to stop
				if len(taskIDs) > 0 {
					ops = append(ops, state.Op{Kind: state.OpSetDesiredState, ID: rapid.SampledFrom(taskIDs).Draw(rt, "task"),
						Desired: rapid.SampledFrom([]api.TaskState{api.TaskStateShutdown, api.TaskStateRemove}).Draw(rt, "desired")})
				}
			case 6: // a task is deleted
				if len(taskIDs) > 0 {
					ops = append(ops, state.Op{Kind: state.OpDeleteTask, ID: rapid.SampledFrom(taskIDs).Draw(rt, "task")})
				}
			case 7: // a scheduler pass, its guesses counted before the events
				pending := slices.Collect(maps.Values(v.pending))
				placed := Place(pending, v.at(now))
				for _, op := range placed {
					if op.Kind == state.OpAssignTask {
						v.assigned(v.pending[op.ID], op.NodeID)
					}
				}
				if len(placed) > 0 {
					c.p.Propose(context.Background(), &state.Command{Time: t0, Ops: placed})
				}
			}
			if len(ops) > 0 {
				// Refused ops (a status going back) are part of the test.
				c.p.Propose(context.Background(), &state.Command{Time: t0, Ops: ops})
			}
			evs, err := sub.Drain()
			if err != nil {
				rt.Fatal(err)
			}
			for _, ev := range evs {
				v.apply(ev)
			}
			checkView(rt, v, c.store.Read(), now)
		}
	})
}

func genViewTask(rt *rapid.T, id string, nodeIDs []string) *api.Task {
	svc := rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "service")
	tk := mkTask(svc, uint64(rapid.IntRange(1, 3).Draw(rt, "slot")))
	tk.ID = id
	if rapid.Bool().Draw(rt, "cpu") {
		reserveCPUs(1)(tk)
	}
	if rapid.Bool().Draw(rt, "port") {
		hostPort(8080, "")(tk)
	}
	if rapid.Bool().Draw(rt, "placed") {
		tk.NodeID = rapid.SampledFrom(nodeIDs).Draw(rt, "on")
		tk.Status.State = rapid.SampledFrom([]api.TaskState{api.TaskStateAssigned, api.TaskStateRunning, api.TaskStateFailed}).Draw(rt, "state")
	} else if rapid.Bool().Draw(rt, "global") {
		tk.NodeID = rapid.SampledFrom(nodeIDs).Draw(rt, "for")
	}
	return tk
}

// checkView compares v with a full scan of tx.
func checkView(rt *rapid.T, v *view, tx *state.ReadTx, now time.Time) {
	got, want := v.at(now), nodeInfosAt(tx, now)
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		rt.Fatalf("view nodes %v, full scan %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for id, w := range want {
		g := got[id]
		if g.Node != w.Node || g.total != w.total || g.free != w.free ||
			!maps.Equal(g.serviceTasks, w.serviceTasks) || !maps.Equal(g.usedPorts, w.usedPorts) {
			rt.Fatalf("node %s: view total %d free %+v tasks %v ports %v; full scan total %d free %+v tasks %v ports %v",
				id, g.total, g.free, g.serviceTasks, g.usedPorts, w.total, w.free, w.serviceTasks, w.usedPorts)
		}
		for _, svc := range []string{"a", "b"} {
			if g.recentFailures(svc) != w.recentFailures(svc) {
				rt.Fatalf("node %s service %s: view %d recent failures, full scan %d", id, svc, g.recentFailures(svc), w.recentFailures(svc))
			}
		}
	}
	wantPending := map[string]*api.Task{}
	for _, tk := range pendingTasks(tx) {
		wantPending[tk.ID] = tk
	}
	if !reflect.DeepEqual(v.pending, wantPending) {
		rt.Fatalf("view pending %v, full scan %v", slices.Sorted(maps.Keys(v.pending)), slices.Sorted(maps.Keys(wantPending)))
	}
}
