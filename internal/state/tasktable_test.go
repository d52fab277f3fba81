package state_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// idVersions lists tasks as ID@version.
func idVersions(ts []*api.Task) string {
	var s []string
	for _, t := range ts {
		if t == nil {
			s = append(s, "none")
			continue
		}
		s = append(s, t.ID+"@"+fmt.Sprint(t.Version))
	}
	return strings.Join(s, ",")
}

// taskLookups is what a view answers for every node, slot and service of
// the property tests' pools, by the store's indexes.
func taskLookups(tx *state.ReadTx) string {
	var b strings.Builder
	for _, id := range append([]string{"", "t"}, propTaskIDs...) {
		t, err := tx.FindTask(id)
		fmt.Fprintf(&b, "task %q: %s %v\n", id, idVersions([]*api.Task{t}), err)
	}
	for _, n := range append([]string{""}, propNodeIDs...) {
		fmt.Fprintf(&b, "node %q: %s\n", n, idVersions(tx.TasksByNode(n)))
	}
	for _, s := range propServiceIDs {
		fmt.Fprintf(&b, "service %s: %s has=%v\n", s, idVersions(tx.TasksByService(s)), tx.HasTasksOfService(s))
		for slot := range uint64(4) {
			for _, n := range append([]string{""}, propNodeIDs...) {
				fmt.Fprintf(&b, "slot %s/%d/%q: %s\n", s, slot, n, idVersions(tx.TasksBySlot(s, slot, n)))
			}
		}
	}
	return b.String()
}

// scannedLookups is taskLookups answered by scanning every task.
func scannedLookups(tx *state.ReadTx) string {
	all := tx.Tasks()
	slices.SortFunc(all, func(a, b *api.Task) int { return strings.Compare(a.ID, b.ID) })
	pick := func(keep func(*api.Task) bool) []*api.Task {
		var out []*api.Task
		for _, t := range all {
			if keep(t) {
				out = append(out, t)
			}
		}
		return out
	}
	var b strings.Builder
	for _, id := range append([]string{"", "t"}, propTaskIDs...) {
		var t *api.Task
		var err error
		exact := pick(func(t *api.Task) bool { return t.ID == id })
		switch found := pick(func(t *api.Task) bool { return id != "" && strings.HasPrefix(t.ID, id) }); {
		case len(exact) == 1:
			t = exact[0]
		case len(found) == 1:
			t = found[0]
		case len(found) == 0:
			err = fmt.Errorf("task %s: %w", id, state.ErrNotFound)
		default:
			err = fmt.Errorf("%w: task %q matches more than one ID", state.ErrAmbiguous, id)
		}
		fmt.Fprintf(&b, "task %q: %s %v\n", id, idVersions([]*api.Task{t}), err)
	}
	for _, n := range append([]string{""}, propNodeIDs...) {
		fmt.Fprintf(&b, "node %q: %s\n", n, idVersions(pick(func(t *api.Task) bool { return n != "" && t.NodeID == n })))
	}
	for _, s := range propServiceIDs {
		of := pick(func(t *api.Task) bool { return t.ServiceID == s })
		fmt.Fprintf(&b, "service %s: %s has=%v\n", s, idVersions(of), len(of) > 0)
		for slot := range uint64(4) {
			for _, n := range append([]string{""}, propNodeIDs...) {
				fmt.Fprintf(&b, "slot %s/%d/%q: %s\n", s, slot, n, idVersions(pick(func(t *api.Task) bool {
					return t.ServiceID == s && t.Slot == slot && (slot != 0 || t.NodeID == n)
				})))
			}
		}
	}
	return b.String()
}

// TestTaskTableEqualsAFullScan: the task table's lookups (by ID, ID
// prefix, node, slot and service), kept up to date write by write, answer after every random
// command exactly what a scan of every task answers; a view taken before
// a command still answers as it did (the references are copied on write,
// as go-memdb's trees); a refused atomic command leaves them as they
// were; and a snapshot restore rebuilds them the same.
func TestTaskTableEqualsAFullScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := state.NewStore()
		p := &state.LocalProposer{Store: s}
		nCmds := rapid.IntRange(1, 40).Draw(t, "commands")
		for c := 0; c < nCmds; c++ {
			ops := rapid.SliceOfN(rapid.Custom(genOp), 1, 4).Draw(t, "ops")
			before := s.Read()
			beforeLookups := taskLookups(before)
			if _, err := p.Propose(context.Background(), &state.Command{Time: step(c), Atomic: rapid.Bool().Draw(t, "atomic"), Ops: ops}); err != nil {
				t.Fatalf("propose: %v", err)
			}
			after := s.Read()
			if got, want := taskLookups(after), scannedLookups(after); got != want {
				t.Fatalf("command %d: indexes answer\n%s\na scan answers\n%s", c, got, want)
			}
			if got := taskLookups(before); got != beforeLookups {
				t.Fatalf("command %d changed an earlier view:\n%s\nwas\n%s", c, got, beforeLookups)
			}
		}
		if got, want := taskLookups(restored(t, state.NewFSM(s))), taskLookups(s.Read()); got != want {
			t.Fatalf("restored store answers\n%s\nthe original\n%s", got, want)
		}
	})
}

// TestTaskRefsNamesWithNUL: a node ID that holds a NUL, and one that is
// its prefix, each list their own tasks only (go-memdb's NUL-ended keys
// listed both under the shorter: "n\x00" began both keys).
func TestTaskRefsNamesWithNUL(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	a, b := newTask("t1", "s1", 1), newTask("t2", "s1", 2)
	a.NodeID, b.NodeID = "n", "n\x00t"
	e.must(step(1), state.Op{Kind: state.OpCreateTask, Task: a}, state.Op{Kind: state.OpCreateTask, Task: b})
	tx := e.store.Read()
	for node, want := range map[string]string{"n": "t1", "n\x00t": "t2", "n\x00": ""} {
		var got []string
		for _, t := range tx.TasksByNode(node) {
			got = append(got, t.ID)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("TasksByNode(%q) = %v, want %q", node, got, want)
		}
	}
}

// TestTaskTableReadersDuringWrites: views read the task table while
// commands write it (run with -race): a view taken at an index answers
// the same however many writes follow, and never sees half a command.
func TestTaskTableReadersDuringWrites(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	const rounds = 200
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for {
			select {
			case <-done:
				return
			default:
			}
			tx := e.store.Read()
			first := idVersions(tx.TasksByNode("n1"))
			// Every command below assigns a pair of tasks together.
			if n := len(tx.TasksByNode("n1")); n%2 != 0 {
				errs <- fmt.Errorf("index %d: %d tasks on n1, half a command", tx.Index(), n)
				return
			}
			_ = tx.Tasks()
			if again := idVersions(tx.TasksByNode("n1")); again != first {
				errs <- fmt.Errorf("index %d: a view changed under its reader:\n%s\n%s", tx.Index(), first, again)
				return
			}
		}
	}()
	for i := range rounds {
		a, b := fmt.Sprintf("a%03d", i), fmt.Sprintf("b%03d", i)
		e.must(step(1), createTask(newTask(a, "s1", uint64(2*i+1))), createTask(newTask(b, "s1", uint64(2*i+2))))
		e.must(step(2), state.Op{Kind: state.OpAssignTask, ID: a, NodeID: "n1"}, state.Op{Kind: state.OpAssignTask, ID: b, NodeID: "n1"})
		e.must(step(3), report(a, api.TaskStateRunning, "running"), report(b, api.TaskStateRunning, "running"))
	}
	close(done)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if n := len(e.store.Read().TasksByNode("n1")); n != 2*rounds {
		t.Fatalf("%d tasks on n1, want %d", n, 2*rounds)
	}
}
