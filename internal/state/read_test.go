package state_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

func ids(ts []*api.Task) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ID)
	}
	sort.Strings(out)
	return out
}

func sameIDs(t *testing.T, what string, got []*api.Task, want ...string) {
	t.Helper()
	sort.Strings(want)
	g := ids(got)
	if strings.Join(g, ",") != strings.Join(want, ",") {
		t.Fatalf("%s = %v, want %v", what, g, want)
	}
}

// globalTask is a pending task of a global service, made for one node.
func globalTask(id, serviceID, nodeID string) *api.Task {
	tk := newTask(id, serviceID, 0)
	tk.NodeID = nodeID
	return tk
}

func TestTasksByServiceAndByNode(t *testing.T) {
	e := newEnv(t)
	e.must(step(0),
		createTask(newTask("a1", "sa", 1)), createTask(newTask("a2", "sa", 2)),
		createTask(newTask("b1", "sb", 1)), createTask(newTask("sa2", "sa2", 1)),
	)
	e.must(step(1), assign("a1", "n1"), assign("b1", "n1"), assign("a2", "n2"))
	tx := e.store.Read()
	sameIDs(t, "TasksByService(sa)", tx.TasksByService("sa"), "a1", "a2")
	sameIDs(t, "TasksByService(sb)", tx.TasksByService("sb"), "b1")
	sameIDs(t, "TasksByService(s)", tx.TasksByService("s")) // no prefix match
	sameIDs(t, "TasksByNode(n1)", tx.TasksByNode("n1"), "a1", "b1")
	sameIDs(t, "TasksByNode(n2)", tx.TasksByNode("n2"), "a2")
	sameIDs(t, "TasksByNode(n3)", tx.TasksByNode("n3"))

	// Deleting a task removes it from every index.
	e.must(step(2), state.Op{Kind: state.OpDeleteTask, ID: "a1"})
	tx = e.store.Read()
	sameIDs(t, "TasksByService(sa) after delete", tx.TasksByService("sa"), "a2")
	sameIDs(t, "TasksByNode(n1) after delete", tx.TasksByNode("n1"), "b1")
}

// TasksByService reads the slot index by prefix (the tasks table has no
// service index), yet lists by ID as before: slot order (1, 10, 2) and
// global tasks' node order are not ID order.
func TestTasksByServiceListsByID(t *testing.T) {
	e := newEnv(t)
	e.must(step(0),
		createTask(newTask("c", "s", 1)), createTask(newTask("a", "s", 10)), createTask(newTask("b", "s", 2)),
		createTask(globalTask("z", "g", "n1")), createTask(globalTask("y", "g", "n2")),
		createTask(newTask("x", "s2", 1)),
	)
	for svc, want := range map[string]string{"s": "a,b,c", "g": "y,z", "s2": "x"} {
		var got []string
		for _, tk := range e.store.Read().TasksByService(svc) {
			got = append(got, tk.ID)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("TasksByService(%s) = %v, want %s in that order", svc, got, want)
		}
	}
}

func TestTasksBySlotReplicatedAndGlobal(t *testing.T) {
	e := newEnv(t)
	old := newTask("r1old", "rep", 1)
	old.Status.State = api.TaskStateFailed
	e.must(step(0),
		createTask(old),
		createTask(newTask("r1", "rep", 1)),
		createTask(newTask("r10", "rep", 10)),
		createTask(newTask("other1", "rep2", 1)),
		createTask(globalTask("g1", "glob", "n1")),
		createTask(globalTask("g1b", "glob", "n1")),
		createTask(globalTask("g2", "glob", "n2")),
		createTask(globalTask("g10", "glob", "n10")),
	)
	// A replicated task keeps its slot key once placed.
	e.must(step(1), assign("r1", "n5"))
	tx := e.store.Read()
	sameIDs(t, "slot rep/1", tx.TasksBySlot("rep", 1, ""), "r1old", "r1")
	sameIDs(t, "slot rep/10", tx.TasksBySlot("rep", 10, ""), "r10")
	sameIDs(t, "slot rep/2", tx.TasksBySlot("rep", 2, ""))
	sameIDs(t, "slot rep2/1", tx.TasksBySlot("rep2", 1, ""), "other1")
	sameIDs(t, "global glob@n1", tx.TasksBySlot("glob", 0, "n1"), "g1", "g1b")
	sameIDs(t, "global glob@n2", tx.TasksBySlot("glob", 0, "n2"), "g2")
	sameIDs(t, "global glob@n10", tx.TasksBySlot("glob", 0, "n10"), "g10")
}

func TestFindService(t *testing.T) {
	e := newEnv(t)
	e.must(step(0),
		createService(newService("abc111", "web")),
		createService(newService("abc222", "api")),
		createService(newService("xyz333", "db")),
	)
	tx := e.store.Read()
	for _, tc := range []struct{ ref, want string }{
		{"abc111", "abc111"}, // full ID
		{"web", "abc111"},    // name
		{"WEB", "abc111"},    // name, any case
		{"xy", "xyz333"},     // unique prefix
		{"abc2", "abc222"},   // unique prefix
	} {
		s, err := tx.FindService(tc.ref)
		if err != nil || s.ID != tc.want {
			t.Fatalf("FindService(%q) = %v, %v; want %s", tc.ref, s, err, tc.want)
		}
	}
	if _, err := tx.FindService("abc"); err == nil || errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("FindService(abc) err = %v, want an ambiguity error", err)
	}
	for _, ref := range []string{"nope", ""} {
		if _, err := tx.FindService(ref); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("FindService(%q) err = %v, want ErrNotFound", ref, err)
		}
	}
}

func TestFindServiceNamePrefersNameOverIDPrefix(t *testing.T) {
	// A name that is also the prefix of another service's ID resolves by name.
	e := newEnv(t)
	e.must(step(0), createService(newService("webapp1", "other")), createService(newService("s2", "web")))
	s, err := e.store.Read().FindService("web")
	if err != nil || s.ID != "s2" {
		t.Fatalf("FindService(web) = %v, %v; want s2", s, err)
	}
}

func TestFindTask(t *testing.T) {
	e := newEnv(t)
	e.must(step(0),
		createTask(newTask("task111", "s", 1)),
		createTask(newTask("task122", "s", 2)),
		createTask(newTask("zzz", "s", 3)),
	)
	tx := e.store.Read()
	for _, tc := range []struct{ ref, want string }{
		{"task111", "task111"}, {"task12", "task122"}, {"z", "zzz"},
	} {
		tk, err := tx.FindTask(tc.ref)
		if err != nil || tk.ID != tc.want {
			t.Fatalf("FindTask(%q) = %v, %v; want %s", tc.ref, tk, err, tc.want)
		}
	}
	if _, err := tx.FindTask("task1"); err == nil || errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("FindTask(task1) err = %v, want an ambiguity error", err)
	}
	for _, ref := range []string{"nope", ""} {
		if _, err := tx.FindTask(ref); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("FindTask(%q) err = %v, want ErrNotFound", ref, err)
		}
	}
}

func TestFindNode(t *testing.T) {
	e := newEnv(t)
	e.must(step(0),
		upsertNode(newNode("node1abc", "alpha")),
		upsertNode(newNode("node2def", "beta")),
		upsertNode(newNode("qqq", "twin")),
		upsertNode(newNode("rrr", "twin")),
	)
	tx := e.store.Read()
	for _, tc := range []struct{ ref, want string }{
		{"node1abc", "node1abc"}, {"alpha", "node1abc"}, {"beta", "node2def"}, {"node2", "node2def"},
	} {
		n, err := tx.FindNode(tc.ref)
		if err != nil || n.ID != tc.want {
			t.Fatalf("FindNode(%q) = %v, %v; want %s", tc.ref, n, err, tc.want)
		}
	}
	for _, ref := range []string{"node", "twin"} {
		if _, err := tx.FindNode(ref); err == nil || errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), "ambiguous") {
			t.Fatalf("FindNode(%q) err = %v, want an ambiguity error", ref, err)
		}
	}
	if _, err := tx.FindNode("gamma"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("FindNode(gamma) err = %v, want ErrNotFound", err)
	}
}

func TestReadViewIsStableWhileWritesGoOn(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	tx := e.store.Read()
	idx := tx.Index()
	e.must(step(1), createService(newService("s2", "api")), createTask(newTask("t1", "s1", 1)))
	e.must(step(2), state.Op{Kind: state.OpDeleteService, ID: "s1"})
	if tx.Index() != idx || len(tx.Services()) != 1 || tx.Service("s1") == nil || len(tx.Tasks()) != 0 {
		t.Fatalf("an open view saw later writes: index %d, %d services, %d tasks", tx.Index(), len(tx.Services()), len(tx.Tasks()))
	}
	now := e.store.Read()
	if now.Service("s1") != nil || now.Service("s2") == nil || now.Index() != idx+2 {
		t.Fatal("a new view does not see the writes")
	}
}

// A task without a service is refused, as it was while the tasks table
// had a service index (memdb refused the missing key): replicas that
// apply the same log must keep refusing it, and TasksByService("") must
// not find tasks by the bare "/" prefix.
func TestCreateTaskWithoutServiceRefused(t *testing.T) {
	e := newEnv(t)
	res := e.propose(&state.Command{Time: step(0), Atomic: true, Ops: []state.Op{createTask(newTask("orphan", "", 1))}})
	if res.Err == nil {
		t.Fatal("a task with no service ID was created")
	}
	if tk := e.store.Read().Task("orphan"); tk != nil {
		t.Fatalf("task %+v stored", tk)
	}
}
