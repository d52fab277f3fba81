package dispatcher_test

import (
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// An agent learns the role the cluster records for its node from its
// session: with the full assignment, and when an operator changes it
// (`node promote`, `node demote`); a change of anything else of its node
// sends it nothing.
func TestSessionSendsTheNodesRole(t *testing.T) {
	e := newEnv(t, 0)
	e.start()
	s := e.register("n1", "127.0.0.2")
	if a := assignments(t, s); !a.Full || a.Role != api.RoleWorker {
		t.Fatalf("first assignment: full %v role %q, want the full set and worker", a.Full, a.Role)
	}
	spec := e.store.Read().Node("n1").Spec
	spec.Labels = map[string]string{"zone": "a"}
	e.must(state.Op{Kind: state.OpNodeSpec, ID: "n1", NodeSpec: &spec})
	spec.Role = api.RoleManager
	e.must(state.Op{Kind: state.OpNodeSpec, ID: "n1", NodeSpec: &spec})
	if a := assignments(t, s); a.Full || a.Role != api.RoleManager || len(a.Tasks) != 0 {
		t.Fatalf("after promote: %+v, want role manager alone", a)
	}
	// Another node's promotion is not this session's.
	e.register("n2", "127.0.0.3")
	spec2 := e.store.Read().Node("n2").Spec
	spec2.Role = api.RoleManager
	e.must(state.Op{Kind: state.OpNodeSpec, ID: "n2", NodeSpec: &spec2}, createTask(newTask("t1", "n1")), assign("t1", "n1"))
	if a := assignments(t, s); a.Role != "" || !sameIDs(a.Tasks, "t1") {
		t.Fatalf("after another node's promotion and a task: role %q tasks %v", a.Role, ids(a.Tasks))
	}
}
