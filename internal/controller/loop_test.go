package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A change to a service runs a pass over it; a wake time asked for by a
// pass runs another when the clock reaches it; nothing runs otherwise.
func TestLoopRunsOnEventsAndWakes(t *testing.T) {
	store := state.NewStore()
	prop := &state.LocalProposer{Store: store}
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	passes := map[string]int{}
	seen := make(chan string, 16)
	loop := Loop{
		Store: store,
		Clock: fake,
		All: func(tx *state.ReadTx) []string {
			var ids []string
			for _, s := range tx.Services() {
				ids = append(ids, s.ID)
			}
			return ids
		},
		Touched: func(ev api.Event) string {
			if ev.Type == api.EventService {
				return ev.ID
			}
			return ""
		},
		Pass: func(ctx context.Context, dirty map[string]bool, wakes map[string]time.Time) error {
			mu.Lock()
			defer mu.Unlock()
			for id := range dirty {
				passes[id]++
				if passes[id] == 1 {
					wakes[id] = fake.Now().Add(time.Minute)
				} else {
					delete(wakes, id)
				}
				seen <- id
			}
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()

	svc := &api.Service{ID: "s1", Spec: api.ServiceSpec{Name: "web"}}
	if _, err := prop.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpCreateService, Service: svc}}}); err != nil {
		t.Fatal(err)
	}
	wait := func(what string) {
		select {
		case id := <-seen:
			if id != "s1" {
				t.Fatalf("%s: pass over %q", what, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no pass for %s", what)
		}
	}
	wait("the create event")
	tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
	defer tcancel()
	if !fake.WaitForTimers(1, tctx.Done()) {
		t.Fatal("no timer armed for the wake time")
	}
	fake.Advance(59 * time.Second)
	select {
	case <-seen:
		t.Fatal("a pass ran before its wake time")
	default:
	}
	fake.Advance(time.Second)
	wait("the wake time")
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}

// A timer that fires before its wake time by the wall clock is armed again
// rather than dropped: the pass still runs once the time has come.
func TestLoopRearmsAWakeThatFiredEarly(t *testing.T) {
	store := state.NewStore()
	prop := &state.LocalProposer{Store: store}
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	seen := make(chan int, 16)
	passes := 0
	loop := Loop{
		Store: store,
		Clock: &earlyClock{Fake: fake},
		// The service may be created before Run subscribes: All finds it.
		All: func(tx *state.ReadTx) []string {
			var ids []string
			for _, s := range tx.Services() {
				ids = append(ids, s.ID)
			}
			return ids
		},
		Touched: func(ev api.Event) string { return ev.ID },
		Pass: func(ctx context.Context, dirty map[string]bool, wakes map[string]time.Time) error {
			passes++
			if passes == 1 {
				wakes["s1"] = fake.Now().Add(time.Minute)
			} else {
				delete(wakes, "s1")
			}
			seen <- passes
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	svc := &api.Service{ID: "s1", Spec: api.ServiceSpec{Name: "web"}}
	if _, err := prop.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpCreateService, Service: svc}}}); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
	defer tcancel()
	select {
	case <-seen:
	case <-tctx.Done():
		t.Fatal("no first pass")
	}
	// The timer is armed a second short: it fires at 59s.
	if !fake.WaitForTimers(1, tctx.Done()) {
		t.Fatal("no timer armed")
	}
	fake.Advance(59 * time.Second)
	if !fake.WaitForTimers(1, tctx.Done()) {
		t.Fatal("the early timer was not armed again")
	}
	fake.Advance(time.Second)
	select {
	case n := <-seen:
		if n != 2 {
			t.Fatalf("pass %d", n)
		}
	case <-tctx.Done():
		t.Fatal("the wake never ran")
	}
	cancel()
	<-done
}

// earlyClock makes timers a second shorter than asked, as a timer on the
// monotonic clock can end before the wall clock reaches the wake time.
type earlyClock struct{ *clock.Fake }

func (c *earlyClock) NewTimer(d time.Duration) clock.Timer {
	if d > time.Second {
		d -= time.Second
	}
	return c.Fake.NewTimer(d)
}

// A node event looks only at the services NodeTouched names, not at all
// of them.
func TestLoopNodeEventLooksAtTheServicesItTouches(t *testing.T) {
	store := state.NewStore()
	prop := &state.LocalProposer{Store: store}
	seen := make(chan map[string]bool, 16)
	loop := Loop{
		Store: store,
		Clock: clock.Real{},
		All: func(tx *state.ReadTx) []string {
			var ids []string
			for _, s := range tx.Services() {
				ids = append(ids, s.ID)
			}
			return ids
		},
		Touched: func(api.Event) string { return "" },
		NodeTouched: func(tx *state.ReadTx, nodeID string) []string {
			if tx.Node(nodeID) == nil {
				t.Errorf("NodeTouched read a view without node %s", nodeID)
			}
			return []string{"s-" + nodeID}
		},
		Pass: func(ctx context.Context, dirty map[string]bool, wakes map[string]time.Time) error {
			seen <- dirty
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	for _, id := range []string{"s-n1", "s-other"} {
		svc := &api.Service{ID: id, Spec: api.ServiceSpec{Name: id}}
		if _, err := prop.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpCreateService, Service: svc}}}); err != nil {
			t.Fatal(err)
		}
	}
	go func() { done <- loop.Run(ctx) }()
	next := func() map[string]bool {
		select {
		case d := <-seen:
			return d
		case <-time.After(10 * time.Second):
			t.Fatal("no pass")
			return nil
		}
	}
	if d := next(); len(d) != 2 {
		t.Fatalf("first pass over %v, want both services", d)
	}
	node := &api.Node{ID: "n1", Spec: api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive}}
	if _, err := prop.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpUpsertNode, Node: node}}}); err != nil {
		t.Fatal(err)
	}
	if d := next(); len(d) != 1 || !d["s-n1"] {
		t.Fatalf("pass after node event over %v, want only s-n1", d)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}
