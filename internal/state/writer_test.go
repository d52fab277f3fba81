package state_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

func TestCreateServiceStampsMetaWithCommandIndexAndTime(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), upsertNode(newNode("n1", "h1"))) // index 1
	res := e.must(step(1), createService(newService("s1", "web")))
	if res.Index != 2 {
		t.Fatalf("result index %d, want 2", res.Index)
	}
	s := e.service("s1")
	if s.Spec.Name != "web" || s.SpecVersion != 1 {
		t.Fatalf("stored service %+v", s)
	}
	if s.Version != res.Index || !s.CreatedAt.Equal(step(1)) || !s.UpdatedAt.Equal(step(1)) {
		t.Fatalf("meta %+v, want version %d, created=updated=%v", s.Meta, res.Index, step(1))
	}
	if got := e.store.Index(); got != res.Index {
		t.Fatalf("store index %d, want %d", got, res.Index)
	}
}

func TestCreateServiceRefusesDuplicateNameCaseInsensitively(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	e.refused(state.ErrNameConflict, step(1), createService(newService("s2", "WeB")))
	if got := e.store.Read().Services(); len(got) != 1 || got[0].ID != "s1" {
		t.Fatalf("services after refused create: %v", got)
	}
	if e.store.Read().Service("s2") != nil {
		t.Fatal("the refused service was stored")
	}
}

func TestCreateServiceRefusesDuplicateID(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	e.refused(state.ErrNameConflict, step(1), createService(newService("s1", "other")))
	if got := e.service("s1").Spec.Name; got != "web" {
		t.Fatalf("service name %q, want web", got)
	}
}

func TestAtomicCommandWithAFailingOpAppliesNone(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	_, sub := e.store.Subscribe()
	defer sub.Close()
	before := e.store.Read()

	e.refused(state.ErrNameConflict, step(1),
		createService(newService("s2", "api")), // good
		createTask(newTask("t1", "s2", 1)),     // good
		createService(newService("s3", "WEB")), // name taken
	)
	tx := e.store.Read()
	if tx.Service("s2") != nil || tx.Task("t1") != nil || tx.Service("s3") != nil {
		t.Fatal("part of a refused atomic command was applied")
	}
	if tx.ServiceByName("api") != nil {
		t.Fatal("the name of a refused service is taken")
	}
	if len(tx.Services()) != len(before.Services()) || len(tx.Tasks()) != 0 {
		t.Fatalf("contents changed: %d services, %d tasks", len(tx.Services()), len(tx.Tasks()))
	}
	if evs, err := sub.Drain(); err != nil || len(evs) != 0 {
		t.Fatalf("refused command published events %v (err %v)", evs, err)
	}
	// The name is still free for a later command.
	e.must(step(2), createService(newService("s2", "api")))
}

func TestUpdateServiceWithStaleExpectVersionIsRefused(t *testing.T) {
	e := newEnv(t)
	created := e.must(step(0), createService(newService("s1", "web")))
	upd := *e.service("s1")
	upd.Spec.Mode.Replicated = &api.ReplicatedService{Replicas: 3}
	e.refused(state.ErrVersionConflict, step(1),
		state.Op{Kind: state.OpUpdateService, Service: &upd, ExpectVersion: created.Index + 7})
	s := e.service("s1")
	if s.Spec.Mode.Replicas() != 1 || s.Version != created.Index {
		t.Fatalf("refused update changed the service: replicas %d, version %d", s.Spec.Mode.Replicas(), s.Version)
	}
}

func TestUpdateServiceWithMatchingExpectVersionApplies(t *testing.T) {
	e := newEnv(t)
	created := e.must(step(0), createService(newService("s1", "web")))
	upd := *e.service("s1")
	upd.Spec.Mode.Replicated = &api.ReplicatedService{Replicas: 3}
	upd.CreatedAt = step(99) // a writer cannot move CreatedAt
	res := e.must(step(5), state.Op{Kind: state.OpUpdateService, Service: &upd, ExpectVersion: created.Index})
	s := e.service("s1")
	if s.Spec.Mode.Replicas() != 3 {
		t.Fatalf("replicas %d, want 3", s.Spec.Mode.Replicas())
	}
	if s.Version != res.Index || res.Index == created.Index {
		t.Fatalf("version %d, want the update's index %d", s.Version, res.Index)
	}
	if !s.CreatedAt.Equal(step(0)) {
		t.Fatalf("CreatedAt %v, want it kept at %v", s.CreatedAt, step(0))
	}
	if !s.UpdatedAt.Equal(step(5)) {
		t.Fatalf("UpdatedAt %v, want %v", s.UpdatedAt, step(5))
	}
	// The old version is now stale.
	again := *s
	e.refused(state.ErrVersionConflict, step(6), state.Op{Kind: state.OpUpdateService, Service: &again, ExpectVersion: created.Index})
}

func TestUpdateServiceWithoutExpectVersionAlwaysApplies(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	e.must(step(1), state.Op{Kind: state.OpUpsertNode, Node: newNode("n1", "h1")})
	upd := *e.service("s1")
	upd.Version = 0
	upd.Spec.Labels = map[string]string{"k": "v"}
	res := e.must(step(2), state.Op{Kind: state.OpUpdateService, Service: &upd})
	if s := e.service("s1"); s.Spec.Labels["k"] != "v" || s.Version != res.Index {
		t.Fatalf("unconditional update not applied: %+v", s)
	}
}

func TestUpdateServiceRefusesAnotherServicesName(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")), createService(newService("s2", "api")))
	upd := *e.service("s2")
	upd.Spec.Name = "Web"
	e.refused(state.ErrNameConflict, step(1), state.Op{Kind: state.OpUpdateService, Service: &upd})
	// Changing only the case of its own name is allowed.
	upd.Spec.Name = "API"
	e.must(step(2), state.Op{Kind: state.OpUpdateService, Service: &upd})
	if got := e.store.Read().ServiceByName("api"); got == nil || got.ID != "s2" {
		t.Fatalf("service by name api = %v, want s2", got)
	}
}

func TestUpdateMissingServiceIsNotFound(t *testing.T) {
	e := newEnv(t)
	e.refused(state.ErrNotFound, step(0), state.Op{Kind: state.OpUpdateService, Service: newService("nope", "x")})
	e.refused(state.ErrNotFound, step(0), state.Op{Kind: state.OpDeleteService, ID: "nope"})
}

func TestNonAtomicCommandSkipsFailingOpsAndAppliesTheRest(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	res := e.propose(&state.Command{Time: step(1), Ops: []state.Op{
		createTask(newTask("t1", "s1", 1)),
		assign("missing", "n1"),
		createService(newService("s2", "WEB")),
		createTask(newTask("t2", "s1", 2)),
	}})
	if res.Err != nil {
		t.Fatalf("non-atomic command refused as a whole: %v", res.Err)
	}
	if len(res.OpErrs) != 4 {
		t.Fatalf("OpErrs %v, want one entry per op", res.OpErrs)
	}
	if res.OpErrs[0] != nil || res.OpErrs[3] != nil {
		t.Fatalf("good ops reported errors: %v", res.OpErrs)
	}
	if !errors.Is(res.OpErrs[1], state.ErrNotFound) {
		t.Fatalf("OpErrs[1] = %v, want ErrNotFound", res.OpErrs[1])
	}
	if !errors.Is(res.OpErrs[2], state.ErrNameConflict) {
		t.Fatalf("OpErrs[2] = %v, want ErrNameConflict", res.OpErrs[2])
	}
	tx := e.store.Read()
	if tx.Task("t1") == nil || tx.Task("t2") == nil {
		t.Fatal("the good ops of a non-atomic command were not applied")
	}
	if tx.Service("s2") != nil {
		t.Fatal("a skipped op was applied")
	}
}

func TestNonAtomicCommandWithoutFailuresHasNoOpErrs(t *testing.T) {
	e := newEnv(t)
	res := e.propose(&state.Command{Time: step(0), Ops: []state.Op{
		createService(newService("s1", "web")), createTask(newTask("t1", "s1", 1)),
	}})
	if res.Err != nil || res.OpErrs != nil {
		t.Fatalf("Err %v, OpErrs %v; want none", res.Err, res.OpErrs)
	}
}

// runningTask stores a task and moves it to running on n1.
func runningTask(e *env, id string) {
	e.t.Helper()
	e.must(step(0), createTask(newTask(id, "s1", 1)))
	e.must(step(1), assign(id, "n1"))
	e.must(step(2), report(id, api.TaskStateRunning, "started"))
}

func TestTaskStatusCannotMoveBackwards(t *testing.T) {
	e := newEnv(t)
	runningTask(e, "t1")
	before := e.task("t1")
	e.refused(state.ErrStaleTransition, step(3), report("t1", api.TaskStateStarting, "late report"))
	after := e.task("t1")
	if after.Status.State != api.TaskStateRunning || after.Version != before.Version || len(after.History) != len(before.History) {
		t.Fatalf("refused report changed the task: %+v", after.Status)
	}
}

func TestTaskStatusTerminalCannotBecomeAnotherTerminal(t *testing.T) {
	for _, tc := range []struct{ from, to api.TaskState }{
		{api.TaskStateFailed, api.TaskStateComplete},
		{api.TaskStateComplete, api.TaskStateFailed}, // forward in number, still refused
		{api.TaskStateShutdown, api.TaskStateRejected},
	} {
		e := newEnv(t)
		runningTask(e, "t1")
		e.must(step(3), report("t1", tc.from, "ended"))
		e.refused(state.ErrStaleTransition, step(4), report("t1", tc.to, "ended again"))
		if got := e.task("t1").Status; got.State != tc.from || got.Message != "ended" {
			t.Fatalf("%s then %s: status became %+v", tc.from, tc.to, got)
		}
	}
}

func TestTaskStatusSameStateUpdatesHealthAndMessage(t *testing.T) {
	e := newEnv(t)
	runningTask(e, "t1")
	histLen := len(e.task("t1").History)
	op := report("t1", api.TaskStateRunning, "health check passed")
	op.Report.Status.Health = api.HealthHealthy
	op.Report.Endpoints = []api.TaskEndpoint{{TargetPort: 80, Addr: "10.0.0.1:33000"}}
	res := e.must(step(3), op)
	tk := e.task("t1")
	if tk.Status.Health != api.HealthHealthy || tk.Status.Message != "health check passed" {
		t.Fatalf("status %+v, want healthy with the new message", tk.Status)
	}
	if tk.Version != res.Index {
		t.Fatalf("version %d, want %d", tk.Version, res.Index)
	}
	if len(tk.Endpoints) != 1 || tk.Endpoints[0].Addr != "10.0.0.1:33000" {
		t.Fatalf("endpoints %v", tk.Endpoints)
	}
	if len(tk.History) != histLen {
		t.Fatalf("history grew from %d to %d on a same-state report", histLen, len(tk.History))
	}
}

func TestTaskHistoryRecordsEachStateChangeInOrder(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createTask(newTask("t1", "s1", 1)))
	e.must(step(1), assign("t1", "n1"))
	e.must(step(2), reportAt("t1", api.TaskStateAccepted, step(2), "accepted"))
	e.must(step(3), reportAt("t1", api.TaskStateRunning, step(3), "started"))
	e.must(step(4), reportAt("t1", api.TaskStateRunning, step(4), "still running")) // no state change
	e.must(step(5), reportAt("t1", api.TaskStateComplete, step(5), "exited 0"))

	want := []struct {
		state api.TaskState
		msg   string
		at    int
	}{
		{api.TaskStateAssigned, "assigned", 1},
		{api.TaskStateAccepted, "accepted", 2},
		{api.TaskStateRunning, "started", 3},
		{api.TaskStateComplete, "exited 0", 5},
	}
	h := e.task("t1").History
	if len(h) != len(want) {
		t.Fatalf("history %+v, want %d entries", h, len(want))
	}
	for i, w := range want {
		if h[i].State != w.state || h[i].Message != w.msg || !h[i].Timestamp.Equal(step(w.at)) {
			t.Fatalf("history[%d] = %s %q at %v, want %s %q at %v", i, h[i].State, h[i].Message, h[i].Timestamp, w.state, w.msg, step(w.at))
		}
	}
}

func TestTaskHistoryOfStoredCopiesIsNotShared(t *testing.T) {
	// A reader's view must not change when later writes append history.
	e := newEnv(t)
	e.must(step(0), createTask(newTask("t1", "s1", 1)))
	e.must(step(1), assign("t1", "n1"))
	old := e.task("t1")
	oldHist := append([]api.TaskStatus(nil), old.History...)
	e.must(step(2), report("t1", api.TaskStateRunning, "started"))
	e.must(step(3), report("t1", api.TaskStateFailed, "crashed"))
	if old.Status.State != api.TaskStateAssigned || len(old.History) != len(oldHist) {
		t.Fatalf("an earlier read changed: %+v", old)
	}
	for i := range oldHist {
		if old.History[i] != oldHist[i] {
			t.Fatalf("history entry %d of an earlier read changed", i)
		}
	}
}

func TestAssignTaskOnlyFromPending(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createTask(newTask("t1", "s1", 1)))
	res := e.must(step(1), assign("t1", "n1"))
	tk := e.task("t1")
	if tk.NodeID != "n1" || tk.Status.State != api.TaskStateAssigned || tk.Status.Message != "assigned" || tk.Version != res.Index {
		t.Fatalf("assigned task %+v", tk)
	}
	// Assigned again, to another node: refused, stays on n1.
	e.refused(state.ErrStaleTransition, step(2), assign("t1", "n2"))
	e.must(step(3), report("t1", api.TaskStateRunning, "started"))
	e.refused(state.ErrStaleTransition, step(4), assign("t1", "n2"))
	if tk := e.task("t1"); tk.NodeID != "n1" || tk.Status.State != api.TaskStateRunning {
		t.Fatalf("refused assignment changed the task: node %s, state %s", tk.NodeID, tk.Status.State)
	}
	e.refused(state.ErrNotFound, step(5), assign("missing", "n1"))
}

func TestAssignTaskRefusedOnceShutdownIsDesired(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createTask(newTask("t1", "s1", 1)))
	e.must(step(1), state.Op{Kind: state.OpSetDesiredState, ID: "t1", Desired: api.TaskStateShutdown})
	e.refused(state.ErrStaleTransition, step(2), assign("t1", "n1"))
	if tk := e.task("t1"); tk.NodeID != "" {
		t.Fatalf("a task to shut down was placed on %s", tk.NodeID)
	}
}

func TestSetDesiredStateOnlyRaises(t *testing.T) {
	e := newEnv(t)
	runningTask(e, "t1")
	res := e.must(step(3), state.Op{Kind: state.OpSetDesiredState, ID: "t1", Desired: api.TaskStateShutdown})
	tk := e.task("t1")
	if tk.DesiredState != api.TaskStateShutdown || tk.Version != res.Index {
		t.Fatalf("desired %s version %d, want shutdown at %d", tk.DesiredState, tk.Version, res.Index)
	}
	// A placed task keeps its status: its agent stops it.
	if tk.Status.State != api.TaskStateRunning {
		t.Fatalf("status of a running task became %s", tk.Status.State)
	}
	e.must(step(4), state.Op{Kind: state.OpSetDesiredState, ID: "t1", Desired: api.TaskStateRunning})
	if got := e.task("t1"); got.DesiredState != api.TaskStateShutdown || got.Version != res.Index {
		t.Fatalf("lowering the desired state changed the task: desired %s, version %d", got.DesiredState, got.Version)
	}
	e.must(step(5), state.Op{Kind: state.OpSetDesiredState, ID: "t1", Desired: api.TaskStateRemove})
	if got := e.task("t1"); got.DesiredState != api.TaskStateRemove {
		t.Fatalf("desired %s, want remove", got.DesiredState)
	}
}

func TestSetDesiredShutdownOnUnplacedTaskRecordsShutdown(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createTask(newTask("t1", "s1", 1)))
	e.must(step(1), state.Op{Kind: state.OpPendingReason, ID: "t1", Message: "no suitable node"})
	e.must(step(2), state.Op{Kind: state.OpSetDesiredState, ID: "t1", Desired: api.TaskStateShutdown})
	tk := e.task("t1")
	if tk.Status.State != api.TaskStateShutdown || !tk.Status.Timestamp.Equal(step(2)) || tk.Status.Message == "" {
		t.Fatalf("status %+v, want shutdown at %v with a message", tk.Status, step(2))
	}
	if tk.Live() {
		t.Fatal("a shut down task is still live")
	}
	if last := tk.History[len(tk.History)-1]; last.State != api.TaskStateShutdown {
		t.Fatalf("history ends with %s, want shutdown", last.State)
	}
}

func TestPendingReasonRecordsErr(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createTask(newTask("t1", "s1", 1)))
	res := e.must(step(1), state.Op{Kind: state.OpPendingReason, ID: "t1", Message: "no suitable node (no nodes in the cluster)"})
	tk := e.task("t1")
	if tk.Status.State != api.TaskStatePending || tk.Status.Err != "no suitable node (no nodes in the cluster)" {
		t.Fatalf("status %+v", tk.Status)
	}
	if tk.Version != res.Index || !tk.Status.Timestamp.Equal(step(1)) {
		t.Fatalf("version %d timestamp %v, want %d and %v", tk.Version, tk.Status.Timestamp, res.Index, step(1))
	}
}

func TestPendingReasonUnchangedIsANoOp(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createTask(newTask("t1", "s1", 1)))
	first := e.must(step(1), state.Op{Kind: state.OpPendingReason, ID: "t1", Message: "why"})
	_, sub := e.store.Subscribe()
	defer sub.Close()
	e.must(step(2), state.Op{Kind: state.OpPendingReason, ID: "t1", Message: "why"})
	tk := e.task("t1")
	if tk.Version != first.Index || !tk.Status.Timestamp.Equal(step(1)) {
		t.Fatalf("unchanged reason rewrote the task: version %d, timestamp %v", tk.Version, tk.Status.Timestamp)
	}
	if evs, _ := sub.Drain(); len(evs) != 0 {
		t.Fatalf("unchanged reason published %v", evs)
	}
}

func TestPendingReasonRefusedOncePlaced(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createTask(newTask("t1", "s1", 1)))
	e.must(step(1), assign("t1", "n1"))
	e.refused(state.ErrStaleTransition, step(2), state.Op{Kind: state.OpPendingReason, ID: "t1", Message: "late"})
	if tk := e.task("t1"); tk.Status.State != api.TaskStateAssigned || tk.Status.Err != "" {
		t.Fatalf("status %+v", tk.Status)
	}
}

func TestNodeUpsertKeepsCreatedAtAndStatusOpUpdates(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), upsertNode(newNode("n1", "h1")))
	n := *e.store.Read().Node("n1")
	n.Spec.Availability = api.AvailabilityDrain
	res := e.must(step(1), upsertNode(&n))
	got := e.store.Read().Node("n1")
	if got.Spec.Availability != api.AvailabilityDrain || got.Version != res.Index || !got.CreatedAt.Equal(step(0)) || !got.UpdatedAt.Equal(step(1)) {
		t.Fatalf("node after upsert %+v", got)
	}
	e.must(step(2), state.Op{Kind: state.OpNodeStatus, ID: "n1", NodeStatus: &api.NodeStatus{State: api.NodeStateDown, Message: "heartbeat lost"}})
	if got := e.store.Read().Node("n1"); got.Status.State != api.NodeStateDown || got.Spec.Availability != api.AvailabilityDrain {
		t.Fatalf("node after status %+v", got)
	}
	e.refused(state.ErrNotFound, step(3), state.Op{Kind: state.OpNodeStatus, ID: "n2", NodeStatus: &api.NodeStatus{State: api.NodeStateDown}})
	e.must(step(4), state.Op{Kind: state.OpDeleteNode, ID: "n1"})
	if e.store.Read().Node("n1") != nil {
		t.Fatal("deleted node still stored")
	}
}

// A controller that read a service before a deploy landed must not add a
// task of the spec the deploy replaced: it would run the old spec next to
// the new one and look like an outdated task to the updater.
func TestCreateTaskOfAReplacedSpecVersionIsRefused(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	upd := *e.service("s1")
	upd.SpecVersion = 2
	e.must(step(1), state.Op{Kind: state.OpUpdateService, Service: &upd})

	stale := newTask("t1", "s1", 1) // made from spec version 1
	stale.SpecVersion = 1
	e.refused(state.ErrVersionConflict, step(2), createTask(stale))
	if e.store.Read().Task("t1") != nil {
		t.Fatal("a task of the replaced spec version was stored")
	}
	fresh := newTask("t2", "s1", 1)
	fresh.SpecVersion = 2
	e.must(step(3), createTask(fresh))
	// A task of a service not in the store is not this check's business
	// (the orchestrator removes a deleted service's tasks).
	e.must(step(4), createTask(newTask("t3", "gone", 1)))
}

// A service write that makes a new spec version moves the live tasks that
// already run that exact spec to it, in the same write; others keep their
// version, and ended tasks are history.
func TestNewSpecVersionAdoptsLiveTasksThatRunIt(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	same := newTask("same", "s1", 1) // runs the spec the write puts back
	other := newTask("other", "s1", 2)
	other.Spec.ContainerSpec.Command = []string{"/bin/sleep", "99"}
	ended := newTask("ended", "s1", 3)
	ended.Status.State = api.TaskStateFailed
	e.must(step(1), createTask(same), createTask(other), createTask(ended))

	upd := *e.service("s1")
	upd.SpecVersion = 2 // same template as version 1, as a rollback's
	e.must(step(2), state.Op{Kind: state.OpUpdateService, Service: &upd})
	tx := e.store.Read()
	if v := tx.Task("same").SpecVersion; v != 2 {
		t.Errorf("task running the new spec is at version %d, want 2", v)
	}
	if v := tx.Task("other").SpecVersion; v != 1 {
		t.Errorf("task running another spec moved to version %d", v)
	}
	if v := tx.Task("ended").SpecVersion; v != 1 {
		t.Errorf("ended task moved to version %d", v)
	}
	// A write that keeps the spec version moves nothing.
	upd = *e.service("s1")
	upd.Spec.TaskTemplate.ContainerSpec.Command = []string{"/bin/sleep", "99"}
	e.must(step(3), state.Op{Kind: state.OpUpdateService, Service: &upd})
	if v := e.store.Read().Task("other").SpecVersion; v != 1 {
		t.Errorf("a write without a new spec version moved a task to %d", v)
	}
}

// The store marks where an update starts and where a task is made by Raft
// index, so the updater can tell its own tasks whatever the clock does:
// a status written without a StartedIndex starts at the write's index,
// one carried on keeps its index, and a task's CreatedIndex is the index
// of the write that made it, however its times compare.
func TestUpdateStartAndTaskCreationCarryTheirRaftIndex(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(newService("s1", "web")))
	svc := *e.service("s1")
	started := step(10)
	svc.UpdateStatus = &api.UpdateStatus{State: api.UpdateStateUpdating, StartedAt: &started}
	res := e.must(step(10), state.Op{Kind: state.OpUpdateService, Service: &svc})
	st := e.service("s1").UpdateStatus
	if st.StartedIndex != res.Index {
		t.Fatalf("update started at index %d, want the write's %d", st.StartedIndex, res.Index)
	}
	// A task made later by a clock that stepped back an hour.
	tk := newTask("t1", "s1", 1)
	res = e.must(step(10).Add(-time.Hour), createTask(tk))
	got := e.task("t1")
	if got.CreatedIndex != res.Index || !st.Made(got) {
		t.Fatalf("task created at index %d (write %d), made by the update: %v; want the write's index and true", got.CreatedIndex, res.Index, st.Made(got))
	}
	// Carrying the status on (a controller's progress) keeps its index.
	next := *e.service("s1")
	carried := *next.UpdateStatus
	carried.Message = "still going"
	next.UpdateStatus = &carried
	e.must(step(11), state.Op{Kind: state.OpUpdateService, Service: &next})
	if got := e.service("s1").UpdateStatus.StartedIndex; got != st.StartedIndex {
		t.Fatalf("carried status started at index %d, want %d", got, st.StartedIndex)
	}
}
