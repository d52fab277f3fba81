package state

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/shoalproject/shoal/api"
)

// writer applies the ops of one command inside one write transaction and
// collects the events they make.
type writer struct {
	txn *memdb.Txn
	// tasks is the task table's clone this command writes (tasktable.go),
	// which the store keeps if it commits.
	tasks  taskTable
	index  uint64
	now    time.Time
	events []api.Event
	// specs learns the encodings of the templates tasks are made from.
	specs *specCache
	// strs shares the strings tasks repeat (strtable.go); nil shares
	// none.
	strs *stringTable
}

func (w *writer) emit(typ, action, id string, svc *api.Service, task *api.Task, node *api.Node) {
	w.events = append(w.events, api.Event{Index: w.index, Type: typ, Action: action, ID: id, Service: svc, Task: task, Node: node})
}

func (w *writer) apply(op *Op) error {
	switch op.Kind {
	case OpCreateService:
		return w.createService(op.Service)
	case OpUpdateService:
		return w.updateService(op.Service, op.ExpectVersion)
	case OpDeleteService:
		return w.deleteService(op.ID)
	case OpCreateTask:
		return w.createTask(op.Task)
	case OpDeleteTask:
		return w.deleteTask(op.ID)
	case OpAssignTask:
		return w.assignTask(op.ID, op.NodeID, op.Message)
	case OpPendingReason:
		return w.pendingReason(op.ID, op.Message)
	case OpSetDesiredState:
		return w.setDesired(op.ID, op.Desired)
	case OpTaskStatus:
		return w.taskStatus(op.Report)
	case OpUpsertNode:
		return w.upsertNode(op.Node)
	case OpNodeStatus:
		return w.nodeStatus(op.ID, op.NodeStatus)
	case OpDeleteNode:
		return w.deleteNode(op.ID)
	case OpRemoveNode:
		return w.removeNode(op.ID)
	case OpRegisterNode:
		return w.registerNode(op.Node)
	case OpNodeSpec:
		return w.nodeSpec(op.ID, op.ExpectVersion, op.NodeSpec)
	case OpSetJoinTokens:
		return w.setJoinTokens(op)
	case OpSetCertExpiry:
		return w.setCertExpiry(op.CertExpiry)
	case OpSetRootCA:
		return w.setRootCA(op.CA, op.ExpectCA, op.Tokens)
	case OpSetAutolock:
		return w.setAutolock(op.Lock)
	case OpCreateConfig, OpRemoveConfig, OpUpdateConfigLabels,
		OpCreateSecret, OpRemoveSecret, OpUpdateSecretLabels,
		OpCreateNetwork, OpRemoveNetwork, OpCheckRefs, OpInitCluster:
		return w.applyObject(op)
	}
	return fmt.Errorf("unknown op %q", op.Kind)
}

func (w *writer) stamp(m *api.Meta, create bool) {
	m.Version = w.index
	m.UpdatedAt = w.now
	if create {
		m.CreatedAt = w.now
	}
}

func (w *writer) service(id string) (*api.Service, error) {
	raw, err := w.txn.First(tableServices, "id", id)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("service %s: %w", id, ErrNotFound)
	}
	return raw.(*api.Service), nil
}

func (w *writer) task(id string) (*api.Task, error) {
	t := w.tasks.get(id)
	if t == nil {
		return nil, fmt.Errorf("task %s: %w", id, ErrNotFound)
	}
	return t, nil
}

func (w *writer) node(id string) (*api.Node, error) {
	raw, err := w.txn.First(tableNodes, "id", id)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("node %s: %w", id, ErrNotFound)
	}
	return raw.(*api.Node), nil
}

// markUpdateStart gives an update status that a write brings without a
// StartedIndex the index of this write: it starts an update. A writer
// that carries an update on copies the status it read, index and all;
// one stored before indexes were kept (same StartedAt, no index) stays
// without, and is judged by its times.
func (w *writer) markUpdateStart(s, cur *api.Service) {
	st := s.UpdateStatus
	if st == nil || st.StartedIndex != 0 {
		return
	}
	if cur != nil && cur.UpdateStatus != nil && st.StartedAt != nil && cur.UpdateStatus.StartedAt != nil &&
		st.StartedAt.Equal(*cur.UpdateStatus.StartedAt) {
		return
	}
	next := *st
	next.StartedIndex = w.index
	s.UpdateStatus = &next
}

func (w *writer) createService(in *api.Service) error {
	if in == nil || in.ID == "" {
		return fmt.Errorf("create service: missing service")
	}
	if raw, _ := w.txn.First(tableServices, "name", in.Spec.Name); raw != nil {
		return fmt.Errorf("service %q: %w", in.Spec.Name, ErrNameConflict)
	}
	if raw, _ := w.txn.First(tableServices, "id", in.ID); raw != nil {
		return fmt.Errorf("service id %s: %w", in.ID, ErrNameConflict)
	}
	s := *in
	ep, err := w.allocEndpoint(&s, nil)
	if err != nil {
		return err
	}
	s.Endpoint = ep
	w.markUpdateStart(&s, nil)
	w.stamp(&s.Meta, true)
	if err := w.txn.Insert(tableServices, &s); err != nil {
		return err
	}
	w.learnSpec(&s)
	w.emit(api.EventService, api.ActionCreate, s.ID, &s, nil, nil)
	return nil
}

func (w *writer) updateService(in *api.Service, expect uint64) error {
	if in == nil {
		return fmt.Errorf("update service: missing service")
	}
	cur, err := w.service(in.ID)
	if err != nil {
		return err
	}
	if expect != 0 && cur.Version != expect {
		return fmt.Errorf("service %s: version %d, expected %d: %w", cur.Spec.Name, cur.Version, expect, ErrVersionConflict)
	}
	if raw, _ := w.txn.First(tableServices, "name", in.Spec.Name); raw != nil && raw.(*api.Service).ID != in.ID {
		return fmt.Errorf("service %q: %w", in.Spec.Name, ErrNameConflict)
	}
	s := *in
	s.CreatedAt = cur.CreatedAt
	// The endpoint is the store's to work out, whatever the writer read.
	ep, err := w.allocEndpoint(&s, cur.Endpoint)
	if err != nil {
		if !sameEndpointInputs(&cur.Spec, &s.Spec) {
			return err
		}
		// A write that leaves the ports and networks alone (a
		// controller's status) is never refused for them: a service
		// stored before allocation existed keeps what it had until its
		// spec changes.
		ep = cur.Endpoint
	}
	s.Endpoint = ep
	w.markUpdateStart(&s, cur)
	w.stamp(&s.Meta, false)
	if err := w.txn.Insert(tableServices, &s); err != nil {
		return err
	}
	w.learnSpec(&s)
	w.emit(api.EventService, api.ActionUpdate, s.ID, &s, nil, nil)
	if s.SpecVersion > cur.SpecVersion {
		return w.adoptTasks(&s)
	}
	return nil
}

// adoptTasks moves the service's live tasks that already run exactly its
// new spec to the new spec version, so the update leaves them alone: a
// rollback after one batch replaces only that batch's tasks, as Swarm's
// (which compares specs, not versions), and a deploy that puts back the
// spec still running keeps its tasks.
func (w *writer) adoptTasks(svc *api.Service) error {
	var adopt []*api.Task
	for _, t := range w.tasks.ofService(svc.ID) {
		if t.Live() && t.SpecVersion < svc.SpecVersion &&
			api.SameJSON(t.Spec, svc.Spec.TaskTemplate) && api.SameJSON(t.Endpoint, svc.Spec.EndpointSpec) {
			adopt = append(adopt, t)
		}
	}
	for _, cur := range adopt {
		t := *cur
		t.SpecVersion = svc.SpecVersion
		if err := w.putTask(&t); err != nil {
			return err
		}
	}
	return nil
}

// learnSpec lets the FSM recognize the encoding of svc's template in the
// task creations to come (specsplice.go): learnt with the service, the
// first entry of its tasks is read without decoding their specs too.
func (w *writer) learnSpec(svc *api.Service) {
	if w.specs != nil {
		w.specs.learn(svc)
	}
}

func (w *writer) deleteService(id string) error {
	cur, err := w.service(id)
	if err != nil {
		return err
	}
	if err := w.txn.Delete(tableServices, cur); err != nil {
		return err
	}
	w.emit(api.EventService, api.ActionRemove, id, cur, nil, nil)
	return nil
}

func (w *writer) createTask(in *api.Task) error {
	if in == nil || in.ID == "" {
		return fmt.Errorf("create task: missing task")
	}
	if in.ServiceID == "" {
		// Refused as memdb refused it while the tasks table had a
		// service index: the same log must apply the same everywhere.
		return fmt.Errorf("create task %s: missing service ID", in.ID)
	}
	if w.tasks.get(in.ID) != nil {
		return fmt.Errorf("task %s: %w", in.ID, ErrNameConflict)
	}
	// A task is made from its service's current spec. A controller that
	// read the service before a deploy or rollback landed would otherwise
	// add a task of the spec just replaced.
	var svc *api.Service
	if raw, _ := w.txn.First(tableServices, "id", in.ServiceID); raw != nil {
		svc = raw.(*api.Service)
		if v := svc.SpecVersion; in.SpecVersion != v {
			return fmt.Errorf("task %s of spec version %d: service %s is at %d: %w", in.ID, in.SpecVersion, in.ServiceID, v, ErrVersionConflict)
		}
		w.learnSpec(svc)
	}
	t := *in
	if err := w.attachTask(&t); err != nil {
		return err
	}
	internSpec(&t, svc)
	w.stamp(&t.Meta, true)
	t.CreatedIndex = w.index
	w.tasks.put(&t)
	w.emit(api.EventTask, api.ActionCreate, t.ID, nil, &t, nil)
	return nil
}

func (w *writer) deleteTask(id string) error {
	cur, err := w.task(id)
	if err != nil {
		return err
	}
	w.tasks.remove(cur.ID)
	w.emit(api.EventTask, api.ActionRemove, id, nil, cur, nil)
	return nil
}

// putTask stores a changed copy of a task.
func (w *writer) putTask(t *api.Task) error {
	w.stamp(&t.Meta, false)
	w.tasks.put(t)
	w.emit(api.EventTask, api.ActionUpdate, t.ID, nil, t, nil)
	return nil
}

// advance moves a copy of a task to a new status, recording the transition.
// The new history is allocated to its exact length: appending to a copy
// would round its capacity up (4 statuses become room for 8), and a
// running task's history is then nearly half unused (issue 15: memory
// per task). The copy's statuses share their repeated strings.
func (w *writer) advance(t *api.Task, st api.TaskStatus) {
	if w.strs != nil {
		w.strs.shareStatus(&st)
	}
	if st.State != t.Status.State {
		h := make([]api.TaskStatus, len(t.History)+1)
		copy(h, t.History)
		h[len(t.History)] = st
		if w.strs != nil {
			for i := range h[:len(t.History)] {
				w.strs.shareStatus(&h[i])
			}
		}
		t.History = h
	}
	t.Status = st
}

func (w *writer) assignTask(id, nodeID, msg string) error {
	cur, err := w.task(id)
	if err != nil {
		return err
	}
	if cur.Status.State >= api.TaskStateAssigned || cur.DesiredState > api.TaskStateRunning {
		return fmt.Errorf("assign task %s: it is %s: %w", id, cur.Status.State, ErrStaleTransition)
	}
	t := *cur
	t.NodeID = nodeID
	if w.strs != nil {
		t.NodeID = w.strs.share(nodeID)
	}
	w.advance(&t, api.TaskStatus{State: api.TaskStateAssigned, Timestamp: w.now, Message: msg})
	return w.putTask(&t)
}

func (w *writer) pendingReason(id, msg string) error {
	cur, err := w.task(id)
	if err != nil {
		return err
	}
	if cur.Status.State > api.TaskStatePending {
		return fmt.Errorf("task %s is %s: %w", id, cur.Status.State, ErrStaleTransition)
	}
	if cur.Status.Err == msg {
		return nil
	}
	t := *cur
	st := t.Status
	st.State = api.TaskStatePending
	st.Err = msg
	st.Timestamp = w.now
	w.advance(&t, st)
	return w.putTask(&t)
}

func (w *writer) setDesired(id string, desired api.TaskState) error {
	cur, err := w.task(id)
	if err != nil {
		return err
	}
	if desired <= cur.DesiredState {
		return nil
	}
	t := *cur
	t.DesiredState = desired
	// A task that never reached a node ends here: nobody else will stop it.
	if t.Status.State < api.TaskStateAssigned && desired > api.TaskStateRunning {
		w.advance(&t, api.TaskStatus{State: api.TaskStateShutdown, Timestamp: w.now, Message: "shut down before it was placed"})
	}
	return w.putTask(&t)
}

func (w *writer) taskStatus(r *api.TaskReport) error {
	if r == nil {
		return fmt.Errorf("task status: missing report")
	}
	cur, err := w.task(r.TaskID)
	if err != nil {
		return err
	}
	if r.Status.State < cur.Status.State || (cur.Status.State.Terminal() && r.Status.State != cur.Status.State) {
		return fmt.Errorf("task %s: %s to %s: %w", r.TaskID, cur.Status.State, r.Status.State, ErrStaleTransition)
	}
	t := *cur
	// The leader's time of the command, not the node's: every decision
	// that compares a status time with the leader's clock (restart delay,
	// update monitor, failure window) must not depend on the node's.
	st := r.Status
	st.AgentTimestamp = r.Status.Timestamp
	st.Timestamp = w.now
	w.advance(&t, st)
	if r.Endpoints != nil {
		t.Endpoints = r.Endpoints
		t.EndpointsUnconfirmed = false
	}
	return w.putTask(&t)
}

func (w *writer) upsertNode(in *api.Node) error {
	if in == nil || in.ID == "" {
		return fmt.Errorf("upsert node: missing node")
	}
	n := *in
	action := api.ActionCreate
	if cur, _ := w.node(in.ID); cur != nil {
		action = api.ActionUpdate
		n.CreatedAt = cur.CreatedAt
		w.stamp(&n.Meta, false)
	} else {
		w.stamp(&n.Meta, true)
	}
	if err := w.txn.Insert(tableNodes, &n); err != nil {
		return err
	}
	w.emit(api.EventNode, action, n.ID, nil, nil, &n)
	return nil
}

func (w *writer) registerNode(in *api.Node) error {
	if in == nil || in.ID == "" {
		return fmt.Errorf("register node: missing node")
	}
	if w.first(tableHints, "id", hintRemovedPfx+in.ID) != nil {
		return fmt.Errorf("register node %s: %w", in.ID, ErrRemoved)
	}
	n := *in
	cur, _ := w.node(in.ID)
	if cur != nil {
		n.Spec = cur.Spec
	}
	if err := w.upsertNode(&n); err != nil {
		return err
	}
	if n.Status.Session == "" || (cur != nil && cur.Status.Session == n.Status.Session) {
		// The same agent reconnecting (it followed its tasks all along),
		// or one that names no session (an older agent, an older entry).
		return nil
	}
	return w.unconfirmEndpoints(n.ID)
}

// unconfirmEndpoints marks the endpoints of node id's live tasks
// unconfirmed: a new agent has not read them from its runtime yet, and
// while no agent ran, a port may have moved and been taken by another
// program. The task takes no traffic until its agent reports them again.
func (w *writer) unconfirmEndpoints(id string) error {
	mark := w.tasks.under(w.tasks.byNode, id, func(t *api.Task) bool {
		return len(t.Endpoints) > 0 && !t.EndpointsUnconfirmed && !t.Status.State.Terminal()
	})
	for _, cur := range mark {
		t := *cur
		t.EndpointsUnconfirmed = true
		if err := w.putTask(&t); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) nodeSpec(id string, version uint64, spec *api.NodeSpec) error {
	cur, err := w.node(id)
	if err != nil {
		return err
	}
	if spec == nil {
		return fmt.Errorf("node %s: missing spec", id)
	}
	if version != 0 && cur.Version != version {
		return fmt.Errorf("node %s: %w (it changed since it was read)", id, ErrVersionConflict)
	}
	n := *cur
	n.Spec = *spec
	w.stamp(&n.Meta, false)
	if err := w.txn.Insert(tableNodes, &n); err != nil {
		return err
	}
	w.emit(api.EventNode, api.ActionUpdate, n.ID, nil, nil, &n)
	return nil
}

func (w *writer) nodeStatus(id string, st *api.NodeStatus) error {
	cur, err := w.node(id)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("node %s: missing status", id)
	}
	n := *cur
	n.Status = *st
	n.Status.DownSince = nil
	if st.State == api.NodeStateDown {
		// The first write that finds it down starts its orphan clock;
		// later ones keep it, whatever the writer sent.
		since := w.now
		if cur.Status.State == api.NodeStateDown && cur.Status.DownSince != nil {
			since = *cur.Status.DownSince
		}
		n.Status.DownSince = &since
	}
	w.stamp(&n.Meta, false)
	if err := w.txn.Insert(tableNodes, &n); err != nil {
		return err
	}
	w.emit(api.EventNode, api.ActionUpdate, n.ID, nil, nil, &n)
	return nil
}

// removeNode deletes node id and remembers it (a hint, which snapshots
// keep) so that it never registers again. Tombstones are never dropped:
// removals are rare operator acts, and a tombstone is a few bytes.
func (w *writer) removeNode(id string) error {
	if err := w.deleteNode(id); err != nil {
		return err
	}
	return w.setHint(hintRemovedPfx+id, w.index)
}

func (w *writer) deleteNode(id string) error {
	cur, err := w.node(id)
	if err != nil {
		return err
	}
	if err := w.txn.Delete(tableNodes, cur); err != nil {
		return err
	}
	w.emit(api.EventNode, api.ActionRemove, id, nil, nil, cur)
	return nil
}
