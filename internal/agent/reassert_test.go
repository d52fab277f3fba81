//go:build linux

package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/process"
	"github.com/shoalproject/shoal/internal/state"
)

// lossyManager's sessions lose the first report of a task's end: the
// agent is told it was delivered, and the store never sees it.
type lossyManager struct {
	manager
	mu    sync.Mutex
	lost  []api.TaskReport
	lostC chan struct{} // closed once a report is lost
	// hold, when set, keeps the session's Report that lost the report
	// from returning until it is closed.
	hold chan struct{}
}

type lossySession struct {
	agent.Session
	m *lossyManager
}

func (m *lossyManager) Register(ctx context.Context, reg api.NodeRegistration) (agent.Session, error) {
	s, err := m.manager.Register(ctx, reg)
	if err != nil {
		return nil, err
	}
	return lossySession{s, m}, nil
}

func (s lossySession) Report(ctx context.Context, reports []api.TaskReport) error {
	var kept []api.TaskReport
	s.m.mu.Lock()
	for _, rep := range reports {
		if rep.Status.State.Terminal() && len(s.m.lost) == 0 {
			s.m.lost = append(s.m.lost, rep)
			close(s.m.lostC)
			continue
		}
		kept = append(kept, rep)
	}
	hold := s.m.hold
	s.m.mu.Unlock()
	if len(kept) == 0 {
		if hold != nil {
			<-hold
		}
		return nil
	}
	return s.Session.Report(ctx, kept)
}

// A task's end whose report never reached the store is reported again
// when the managers next send the task still holding it as not ended
// (here: the service's removal wants it stopped): without it, the task
// stays "running" in the store for good and its removal never ends.
func TestEndReportedAgainWhenTheManagersMissedIt(t *testing.T) {
	e := newEnv(t)
	m := &lossyManager{manager: manager{e.d}, lostC: make(chan struct{})}
	e.startAgentWith(agent.Config{Manager: m}, func(rt *process.Runtime) runtime.Runtime { return rt })
	tk := e.assignTask(cmd("sh", "-c", "exit 3"))
	e.waitState(tk.ID, api.TaskStateRunning)
	// The exit's report is the one lost.
	select {
	case <-m.lostC:
	case <-testCtx(t).Done():
		t.Fatal("the task's end was never reported")
	}
	// The store may hold the end already: an assignment change sent
	// for the running report can show the task not ended, and the agent
	// says it again at once. Either way only a report sent again can
	// bring the end to the store, since the first was lost.
	e.must(state.Op{Kind: state.OpSetDesiredState, ID: tk.ID, Desired: api.TaskStateRemove})
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateFailed || got.Status.ExitCode == nil || *got.Status.ExitCode != 3 {
		t.Errorf("status %+v, want failed with exit code 3 (how it ended, reported again)", got.Status)
	}
}

// The managers' change may reach the agent while the lost report of the
// end is still on its way (taken, not yet counted as delivered): the
// agent looks at the task again once it is, and reports the end again.
// Without that second look the change found the report undelivered, did
// nothing, and no later change came (a CI run's failure).
func TestEndReportedAgainWhenTheManagersChangedItMeanwhile(t *testing.T) {
	e := newEnv(t)
	hold := make(chan struct{})
	m := &lossyManager{manager: manager{e.d}, lostC: make(chan struct{}), hold: hold}
	e.startAgentWith(agent.Config{Manager: m}, func(rt *process.Runtime) runtime.Runtime { return rt })
	tk := e.assignTask(cmd("sh", "-c", "exit 3"))
	select {
	case <-m.lostC:
	case <-testCtx(t).Done():
		t.Fatal("the task's end was never reported")
	}
	e.must(state.Op{Kind: state.OpSetDesiredState, ID: tk.ID, Desired: api.TaskStateRemove})
	// Time for the change to reach the agent while the report is held.
	time.Sleep(300 * time.Millisecond)
	close(hold)
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateFailed || got.Status.ExitCode == nil || *got.Status.ExitCode != 3 {
		t.Errorf("status %+v, want failed with exit code 3 (how it ended, reported again)", got.Status)
	}
}
