package dispatcher_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// gatedProposer holds task status entries until open is closed, and
// counts them and their ops.
type gatedProposer struct {
	state.Proposer
	open    chan struct{}
	mu      sync.Mutex
	held    int // entries that reached the gate
	entries int
	ops     []int
}

func (p *gatedProposer) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	if len(cmd.Ops) > 0 && cmd.Ops[0].Kind == state.OpTaskStatus {
		p.mu.Lock()
		p.held++
		p.mu.Unlock()
		<-p.open
		p.mu.Lock()
		p.entries++
		p.ops = append(p.ops, len(cmd.Ops))
		p.mu.Unlock()
	}
	return p.Proposer.Propose(ctx, cmd)
}

// Reports that arrive while entries are in flight share the next entry,
// whatever session sent them, and each session learns its own reports'
// fate: 20 sessions reporting at once cost a few Raft entries, not 20.
func TestReportsOfSessionsShareEntries(t *testing.T) {
	e := newEnv(t, time.Hour)
	gp := &gatedProposer{Proposer: e.p, open: make(chan struct{})}
	e.d.Proposer = gp
	const nodes = 20
	for i := range nodes {
		id := fmt.Sprintf("n%d", i)
		e.must(createTask(newTask("t-"+id, id)), assign("t-"+id, id))
	}
	e.start()
	var sessions []*sessionT
	for i := range nodes {
		id := fmt.Sprintf("n%d", i)
		sessions = append(sessions, &sessionT{s: e.register(id, fmt.Sprintf("10.0.0.%d", i+1)), task: "t-" + id})
	}
	ctx := testCtx(t)
	errs := make(chan error, nodes)
	send := func(st *sessionT) {
		go func() {
			errs <- st.s.Report(ctx, []api.TaskReport{
				{TaskID: st.task, Status: api.TaskStatus{State: api.TaskStateAccepted}},
				{TaskID: st.task, Status: api.TaskStatus{State: api.TaskStateRunning}},
			})
		}()
	}
	waitFor := func(what string, want int, got func() int) {
		t.Helper()
		deadline := time.Now().Add(testTimeout)
		for got() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d %s, want %d", got(), what, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	held := func() int {
		gp.mu.Lock()
		defer gp.mu.Unlock()
		return gp.held
	}
	// The first two sessions' reports are the two entries in flight, held;
	// the other sessions' reports then wait, together.
	send(sessions[0])
	waitFor("entries held", 1, held)
	send(sessions[1])
	waitFor("entries held", 2, held)
	for _, st := range sessions[2:] {
		send(st)
	}
	waitFor("report batches waiting", nodes-2, e.d.WaitingReports)
	close(gp.open)
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatalf("Report: %v", err)
		}
	}
	gp.mu.Lock()
	defer gp.mu.Unlock()
	if gp.entries > 3 {
		t.Errorf("%d sessions' reports took %d entries (ops %v), want at most 3", nodes, gp.entries, gp.ops)
	}
	for _, st := range sessions {
		if got := e.task(st.task).Status.State; got != api.TaskStateRunning {
			t.Errorf("task %s is %s, want running", st.task, got)
		}
	}
}

type sessionT struct {
	s interface {
		Report(context.Context, []api.TaskReport) error
	}
	task string
}
