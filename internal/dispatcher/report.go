package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// ErrTooManyReports refuses a batch of more than api.MaxReportBatch
// reports.
var ErrTooManyReports = errors.New("too many reports in one batch")

// errStale marks a report that is simply late (its task is gone or has
// moved past it): dropped without a warning, as agents send such reports
// in the normal course of things.
var errStale = errors.New("stale")

// Report applies the agent's task status reports in order. A node speaks
// only for itself: each report is checked against the store (see vet)
// and dropped when it names a task the node does not run, a state an
// agent cannot report, a task that has moved past it, or fields it
// cannot hold. Endpoints not on the node's own address and the task's
// published target ports are dropped from a report that is otherwise
// kept. Nothing dropped reaches Raft, so that a node cannot grow the log
// with reports on tasks that don't exist.
func (s *Session) Report(ctx context.Context, reports []api.TaskReport) error {
	if len(reports) > api.MaxReportBatch {
		return fmt.Errorf("%d reports in one batch, more than %d (send them in smaller batches): %w", len(reports), api.MaxReportBatch, ErrTooManyReports)
	}
	tx := s.d.Store.Read()
	node := tx.Node(s.nodeID)
	if node != nil && node.Status.Session != s.agent {
		// An agent that was replaced by a newer one on its node (their
		// sessions overlapped): what it says predates the new agent's
		// reading of the runtime.
		return nil
	}
	ops := make([]state.Op, 0, len(reports))
	kept := make([]string, 0, len(reports))
	var dropped int
	var firstWhy error
	// A batch may hold several reports on one task: each is checked
	// against the task as the ones before it leave it. Only a task
	// reported again later in the batch is copied for that (a copy of
	// each task reported was most of the bytes a session allocated).
	var latest map[string]*api.Task
	// The reports are vetted (and trimmed) in one copy of the batch,
	// which the ops point into.
	reps := slices.Clone(reports)
	for i := range reps {
		rep := &reps[i]
		t := latest[rep.TaskID]
		if t == nil {
			t = tx.Task(rep.TaskID)
		}
		err := s.vet(t, node, rep)
		if err != nil {
			if !errors.Is(err, errStale) {
				dropped++
				if firstWhy == nil {
					firstWhy = fmt.Errorf("task %.32q: %w", rep.TaskID, err)
				}
			}
			continue
		}
		if reportedAgain(reps[i+1:], rep.TaskID) {
			next := *t
			next.Status = rep.Status
			if rep.Endpoints != nil {
				next.Endpoints = rep.Endpoints
			}
			if latest == nil {
				latest = map[string]*api.Task{}
			}
			latest[rep.TaskID] = &next
		}
		ops = append(ops, state.Op{Kind: state.OpTaskStatus, Report: rep})
		kept = append(kept, rep.TaskID)
	}
	if firstWhy != nil {
		// One line per batch, not per report: a hostile node must not
		// flood the log either.
		s.d.logger().Warn("task reports refused", "node", s.nodeID, "count", dropped, "first", firstWhy)
	}
	if len(ops) == 0 {
		return nil
	}
	// Coalesced with other sessions' reports into a shared entry.
	opErrs, err := s.d.proposeReports(ctx, ops)
	if err != nil {
		return fmt.Errorf("report task status: %w", err)
	}
	for i, e := range opErrs {
		if e != nil && !errors.Is(e, state.ErrNotFound) && !errors.Is(e, state.ErrStaleTransition) {
			s.d.logger().Warn("task status dropped", "task", kept[i], "err", e)
		}
	}
	if s.d.ObserveTaskStart != nil {
		s.d.observeStarts(tx, ops, opErrs)
	}
	return nil
}

// reportedAgain reports whether one of reps is on task id.
func reportedAgain(reps []api.TaskReport, id string) bool {
	for i := range reps {
		if reps[i].TaskID == id {
			return true
		}
	}
	return false
}

// observeStarts tells ObserveTaskStart how long each task that the
// reports applied made running took since it was assigned: both times
// are the leader's stamps on the task's statuses.
func (d *Dispatcher) observeStarts(before *state.ReadTx, ops []state.Op, opErrs []error) {
	var after *state.ReadTx
	for i, op := range ops {
		if op.Report.Status.State != api.TaskStateRunning || (i < len(opErrs) && opErrs[i] != nil) {
			continue
		}
		t := before.Task(op.Report.TaskID)
		if t == nil || t.Status.State >= api.TaskStateRunning {
			continue
		}
		assigned, ok := assignedAt(t)
		if !ok {
			continue
		}
		if after == nil {
			after = d.Store.Read()
		}
		now := after.Task(t.ID)
		if now == nil || now.Status.State != api.TaskStateRunning {
			continue
		}
		d.ObserveTaskStart(t.Spec.Runtime(), max(now.Status.Timestamp.Sub(assigned), 0))
	}
}

// assignedAt is when t was assigned to its node.
func assignedAt(t *api.Task) (time.Time, bool) {
	if t.Status.State == api.TaskStateAssigned {
		return t.Status.Timestamp, true
	}
	for i := len(t.History) - 1; i >= 0; i-- {
		if t.History[i].State == api.TaskStateAssigned {
			return t.History[i].Timestamp, true
		}
	}
	return time.Time{}, false
}

// vet checks one report against its task t (nil when there is none) and
// the reporting node, and fixes in place what it can: texts too long are
// cut, an exit code of a task
// that has not ended is dropped, and so are endpoints the node cannot
// claim. It returns why the report must be dropped, or nil.
func (s *Session) vet(t *api.Task, node *api.Node, rep *api.TaskReport) error {
	switch {
	case t == nil:
		return fmt.Errorf("no such task: %w", errStale)
	case t.NodeID != s.nodeID:
		return fmt.Errorf("the task is on node %s, not on the reporting node", t.NodeID)
	case rep.Status.State < api.TaskStateAccepted || rep.Status.State > api.TaskStateRejected:
		// New, pending and assigned are the managers' to set, remove and
		// orphaned are not states a task is in.
		return fmt.Errorf("an agent cannot report state %s", rep.Status.State)
	case rep.Status.State < t.Status.State || t.Status.State.Terminal():
		// The store refuses the first; the second would rewrite how a
		// task ended.
		return fmt.Errorf("task is %s, report is %s: %w", t.Status.State, rep.Status.State, errStale)
	}
	switch rep.Status.Health {
	case "", api.HealthStarting, api.HealthHealthy, api.HealthUnhealthy:
	default:
		return fmt.Errorf("unknown health %.32q", rep.Status.Health)
	}
	if len(rep.Status.RuntimeID) > api.MaxRuntimeID {
		return fmt.Errorf("runtime ID of %d bytes, more than %d", len(rep.Status.RuntimeID), api.MaxRuntimeID)
	}
	rep.Status.Message = api.TrimStatusText(rep.Status.Message)
	rep.Status.Err = api.TrimStatusText(rep.Status.Err)
	if !rep.Status.State.Terminal() {
		rep.Status.ExitCode = nil
	}
	if rep.Endpoints != nil {
		addr := ""
		if node != nil {
			addr = node.Status.Addr
		}
		eps, err := s.d.vetEndpoints(t, addr, rep.Endpoints)
		if err != nil {
			// Keep the status: the task's state is the node's to tell,
			// where its traffic goes is not.
			s.d.logger().Warn("task endpoints refused", "task", t.ID, "node", s.nodeID, "err", err)
		}
		rep.Endpoints = eps
	}
	if unchanged(t, rep) {
		// Nothing new: spare the log an entry.
		return fmt.Errorf("nothing changed: %w", errStale)
	}
	return nil
}

// unchanged reports whether rep would leave t as it is, timestamps aside.
// The report's time is the node's; the store keeps it as AgentTimestamp
// and stamps the status with the leader's (see state's taskStatus).
func unchanged(t *api.Task, rep *api.TaskReport) bool {
	a, b := t.Status, rep.Status
	a.Timestamp, b.Timestamp, a.AgentTimestamp, b.AgentTimestamp = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b) && (rep.Endpoints == nil || (slices.Equal(rep.Endpoints, t.Endpoints) && !t.EndpointsUnconfirmed))
}
