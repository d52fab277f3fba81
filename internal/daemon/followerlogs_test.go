package daemon

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/state"
)

// lineWaiter is a writer that closes done once it has seen n lines
// holding want.
type lineWaiter struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	n    int
	done chan struct{}
}

func (l *lineWaiter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if strings.Count(l.buf.String(), l.want) >= l.n {
		select {
		case <-l.done:
		default:
			close(l.done)
		}
	}
	return len(p), nil
}

func (l *lineWaiter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// service logs asked of a follower shows the output of the tasks on every
// node: the follower hands the request to the leader, where the agents'
// links end, and streams its answer (--follow) back.
func TestServiceLogsFromAFollower(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagers(t, ctx, 3)
	var follower *Dev
	for _, d := range ds {
		if !d.Manager().IsLeader() {
			follower = d
			break
		}
	}
	c, err := client.New(follower.Host())
	if err != nil {
		t.Fatal(err)
	}
	spec := api.ServiceSpec{Name: "hello", Mode: api.ServiceMode{Global: &api.GlobalService{}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sh", "-c", "echo hello from a task; exec sleep 600"}}}}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// Logs show the tasks that started; the follower's store, which
	// lags the leader's, saw them run last.
	waitStore(t, ctx, follower.Manager().Store(), "three tasks run", func(tx *state.ReadTx) bool {
		n := 0
		for _, tk := range tx.Tasks() {
			if tk.Status.State == api.TaskStateRunning && tk.Status.RuntimeID != "" {
				n++
			}
		}
		return n == 3
	})
	out := &lineWaiter{want: "| hello from a task", n: 3, done: make(chan struct{})}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.ServiceLogs(fctx, "hello", true, out) }()
	select {
	case <-out.done:
	case err := <-errc:
		t.Fatalf("logs ended before the three tasks' lines: %v\n%s", err, out)
	case <-ctx.Done():
		t.Fatalf("the three tasks' lines never came:\n%s", out)
	}
	cancel()
	<-errc
	seen := map[string]bool{}
	for _, line := range strings.Split(out.String(), "\n") {
		if prefix, ok := strings.CutSuffix(line, "| hello from a task"); ok {
			seen[strings.TrimSpace(prefix)] = true
		}
	}
	if len(seen) != 3 || strings.Contains(out.String(), "error") {
		t.Errorf("logs from a follower, want one line of each of three tasks:\n%s", out)
	}
	// The tasks' processes end before the managers close.
	if err := c.ServiceRemove(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		waitStore(t, ctx, d.Manager().Store(), "the tasks are gone", func(tx *state.ReadTx) bool { return len(tx.Tasks()) == 0 })
	}
}
