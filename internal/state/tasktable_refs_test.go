package state

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/btree"
	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
)

// dumpTable lists every item of every tree of a task table, in tree
// order, so that two dumps are equal only if the trees are.
func dumpTable(r taskTable) string {
	var b strings.Builder
	r.byID.Ascend(func(it taskItem) bool {
		fmt.Fprintf(&b, "id %s %p v%d\n", it.id, it.t, it.t.Version)
		return true
	})
	for _, c := range []struct {
		name string
		tree *btree.BTreeG[keyRef]
	}{{"node", r.byNode}, {"net", r.byNet}, {"addr", r.byAddr}} {
		name := c.name
		c.tree.Ascend(func(ref keyRef) bool {
			fmt.Fprintf(&b, "%s %q %s\n", name, ref.key, ref.id)
			return true
		})
	}
	r.bySlot.Ascend(func(ref slotRef) bool {
		fmt.Fprintf(&b, "slot %s/%d/%q %s %p\n", ref.service, ref.slot, ref.node, ref.id(), ref.t)
		return true
	})
	return b.String()
}

// checkRefs fails unless every reference tree of r holds exactly what its
// tasks make (node, slot, networks and addresses), the slot references
// hold the very task the ID tree holds, and the lengths agree.
func checkRefs(t interface{ Fatalf(string, ...any) }, what string, r taskTable) {
	var wantNode, wantNet, wantAddr []keyRef
	var wantSlot []string
	byID := map[string]*api.Task{}
	r.byID.Ascend(func(it taskItem) bool {
		tk := it.t
		if it.id != tk.ID {
			t.Fatalf("%s: item %s holds task %s", what, it.id, tk.ID)
		}
		byID[tk.ID] = tk
		if tk.NodeID != "" {
			wantNode = append(wantNode, keyRef{tk.NodeID, tk.ID})
		}
		for _, k := range taskNetworkKeys(tk) {
			wantNet = append(wantNet, keyRef{k, tk.ID})
		}
		for _, k := range taskAddrKeys(tk) {
			wantAddr = append(wantAddr, keyRef{k, tk.ID})
		}
		ref := taskSlotRef(tk)
		wantSlot = append(wantSlot, fmt.Sprintf("%s/%d/%q %s %p", ref.service, ref.slot, ref.node, tk.ID, tk))
		return true
	})
	norm := func(refs []keyRef) []keyRef {
		slices.SortFunc(refs, func(a, b keyRef) int {
			if c := strings.Compare(a.key, b.key); c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
		return slices.Compact(refs)
	}
	got := func(tree *btree.BTreeG[keyRef]) []keyRef {
		var out []keyRef
		tree.Ascend(func(ref keyRef) bool {
			out = append(out, ref)
			return true
		})
		return out
	}
	for _, c := range []struct {
		name      string
		got, want []keyRef
	}{{"node", got(r.byNode), norm(wantNode)}, {"network", got(r.byNet), norm(wantNet)}, {"address", got(r.byAddr), norm(wantAddr)}} {
		if !slices.Equal(c.got, c.want) {
			t.Fatalf("%s: %s references %v, the tasks make %v", what, c.name, c.got, c.want)
		}
	}
	var gotSlot []string
	r.bySlot.Ascend(func(ref slotRef) bool {
		gotSlot = append(gotSlot, fmt.Sprintf("%s/%d/%q %s %p", ref.service, ref.slot, ref.node, ref.id(), ref.t))
		return true
	})
	slices.Sort(gotSlot)
	slices.Sort(wantSlot)
	if !slices.Equal(gotSlot, wantSlot) {
		t.Fatalf("%s: slot references\n%v\nthe tasks make\n%v", what, gotSlot, wantSlot)
	}
}

var refsNodes = []string{"n1", "n2", "n1\x00x", ""}

// genRefsOp draws an op over tasks on networks, so that every reference
// tree (node, slot, network, address) moves: creations on networks,
// assignments, reports that end a task (its addresses are freed),
// deletions, and a task deleted and made again under its ID in one
// command.
func genRefsOp(t *rapid.T, s *Store, at int) []Op {
	tid := rapid.SampledFrom([]string{"t1", "t2", "t3", "t4"}).Draw(t, "task")
	sid := rapid.SampledFrom([]string{"s1", "s2"}).Draw(t, "service")
	mk := func() *api.Task {
		tk := &api.Task{ID: tid, ServiceID: sid, Slot: rapid.Uint64Range(0, 2).Draw(t, "slot"), SpecVersion: s.Read().Service(sid).SpecVersion,
			DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStatePending}}
		tk.NodeID = rapid.SampledFrom(refsNodes).Draw(t, "presetNode")
		for _, n := range rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"net-a", "net-b"}), 0, 2, func(s string) string { return s }).Draw(t, "nets") {
			tk.Spec.Networks = append(tk.Spec.Networks, api.NetworkAttachment{Target: n})
		}
		return tk
	}
	switch rapid.IntRange(0, 7).Draw(t, "kind") {
	case 0:
		return []Op{{Kind: OpCreateTask, Task: mk()}}
	case 1:
		return []Op{{Kind: OpDeleteTask, ID: tid}}
	case 2:
		return []Op{{Kind: OpAssignTask, ID: tid, NodeID: rapid.SampledFrom(refsNodes[:3]).Draw(t, "node")}}
	case 3:
		st := rapid.SampledFrom([]api.TaskState{api.TaskStateRunning, api.TaskStateFailed, api.TaskStateShutdown}).Draw(t, "state")
		return []Op{{Kind: OpTaskStatus, Report: &api.TaskReport{TaskID: tid, Status: api.TaskStatus{State: st},
			Endpoints: []api.TaskEndpoint{{TargetPort: 80, Addr: "10.0.0.2:8080"}}}}}
	case 4:
		return []Op{{Kind: OpSetDesiredState, ID: tid, Desired: api.TaskStateShutdown}}
	case 5:
		return []Op{{Kind: OpDeleteTask, ID: tid}, {Kind: OpCreateTask, Task: mk()}}
	case 6:
		n := &api.Node{ID: rapid.SampledFrom(refsNodes[:3]).Draw(t, "registered"),
			Status: api.NodeStatus{State: api.NodeStateReady, Session: fmt.Sprint("session-", at)}}
		return []Op{{Kind: OpRegisterNode, Node: n}}
	default:
		// A new spec version: the live tasks of the same spec are
		// adopted (rewritten) in the same op.
		svc := &api.Service{ID: sid, SpecVersion: s.Read().Service(sid).SpecVersion + 1, Spec: api.ServiceSpec{Name: "svc-" + sid,
			Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}}}}
		return []Op{{Kind: OpUpdateService, Service: svc}}
	}
}

// TestTaskTableReferencesFollowEveryWrite: after every random command
// (atomic or not, some refused half-way by a last op that fails), every
// reference tree of the store's table and of its readers' view holds
// exactly what its tasks make; a refused atomic command leaves the table
// as it was; and a view taken before a command answers, tree by tree, as
// it did (no shared node written, nothing freed under it).
func TestTaskTableReferencesFollowEveryWrite(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := NewStore()
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		index := uint64(0)
		apply := func(atomic bool, ops ...Op) Result {
			index++
			return s.apply(index, &Command{Time: at.Add(time.Duration(index) * time.Second), Atomic: atomic, Ops: ops})
		}
		if res := apply(true, Op{Kind: OpInitCluster, Pool: &PoolInit{DefaultAddrPool: []string{"10.0.0.0/16"}, SubnetSize: 28}}); res.Err != nil {
			t.Fatalf("init: %v", res.Err)
		}
		for _, n := range []string{"net-a", "net-b"} {
			nw := &api.Network{ID: n + "-id", Spec: api.NetworkSpec{Name: n, Driver: api.DefaultNetworkDriver}}
			if res := apply(true, Op{Kind: OpCreateNetwork, Network: nw}); res.Err != nil {
				t.Fatalf("network: %v", res.Err)
			}
		}
		for _, id := range []string{"s1", "s2"} {
			svc := &api.Service{ID: id, SpecVersion: 1, Spec: api.ServiceSpec{Name: "svc-" + id,
				Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}}}}
			if res := apply(true, Op{Kind: OpCreateService, Service: svc}); res.Err != nil {
				t.Fatalf("service: %v", res.Err)
			}
		}
		for c := range rapid.IntRange(1, 50).Draw(t, "commands") {
			var ops []Op
			for range rapid.IntRange(1, 3).Draw(t, "ops") {
				ops = append(ops, genRefsOp(t, s, c)...)
			}
			refuse := rapid.IntRange(0, 3).Draw(t, "refuse") == 0
			if refuse {
				ops = append(ops, Op{Kind: OpDeleteTask, ID: "no-such-task"})
			}
			atomic := rapid.Bool().Draw(t, "atomic")
			before := s.Read()
			beforeDump, storeBefore := dumpTable(before.tasks), dumpTable(s.tasks)
			res := apply(atomic, ops...)
			checkRefs(t, fmt.Sprintf("command %d: the store's table", c), s.tasks)
			checkRefs(t, fmt.Sprintf("command %d: the view", c), s.Read().tasks)
			if got := dumpTable(before.tasks); got != beforeDump {
				t.Fatalf("command %d changed an earlier view:\n%s\nwas\n%s", c, got, beforeDump)
			}
			if got, want := dumpTable(s.Read().tasks), dumpTable(s.tasks); got != want {
				t.Fatalf("command %d: the view\n%s\nthe table\n%s", c, got, want)
			}
			if atomic && res.Err != nil {
				if got := dumpTable(s.tasks); got != storeBefore {
					t.Fatalf("command %d refused (%v) but changed the table:\n%s\nwas\n%s", c, res.Err, got, storeBefore)
				}
			}
		}
	})
}
