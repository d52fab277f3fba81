package state_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// collect reads events until it has at least n or the test times out.
func collect(t *testing.T, sub *state.Subscription, n int) []api.Event {
	t.Helper()
	ctx := testCtx(t)
	var out []api.Event
	for len(out) < n {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, evs...)
	}
	return out
}

func TestSubscribeDeliversEventsInCommitOrder(t *testing.T) {
	e := newEnv(t)
	tx, sub := e.store.Subscribe()
	defer sub.Close()
	if tx.Index() != 0 {
		t.Fatalf("snapshot index %d, want 0", tx.Index())
	}
	e.must(step(1), createService(newService("s1", "web")))                 // 1
	e.must(step(2), createTask(newTask("t1", "s1", 1)), assign("t1", "n1")) // 2: two events
	e.must(step(3), upsertNode(newNode("n1", "h1")))                        // 3
	e.must(step(4), upsertNode(newNode("n1", "h1")))                        // 4
	e.must(step(5), state.Op{Kind: state.OpDeleteTask, ID: "t1"})           // 5
	e.must(step(6), state.Op{Kind: state.OpDeleteService, ID: "s1"})        // 6
	e.must(step(7), state.Op{Kind: state.OpDeleteNode, ID: "n1"})           // 7

	want := []struct {
		idx          uint64
		typ, act, id string
	}{
		{1, api.EventService, api.ActionCreate, "s1"},
		{2, api.EventTask, api.ActionCreate, "t1"},
		{2, api.EventTask, api.ActionUpdate, "t1"},
		{3, api.EventNode, api.ActionCreate, "n1"},
		{4, api.EventNode, api.ActionUpdate, "n1"},
		{5, api.EventTask, api.ActionRemove, "t1"},
		{6, api.EventService, api.ActionRemove, "s1"},
		{7, api.EventNode, api.ActionRemove, "n1"},
	}
	got := collect(t, sub, len(want))
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Index != w.idx || g.Type != w.typ || g.Action != w.act || g.ID != w.id {
			t.Fatalf("event %d = {%d %s %s %s}, want {%d %s %s %s}", i, g.Index, g.Type, g.Action, g.ID, w.idx, w.typ, w.act, w.id)
		}
	}
	// Events carry the object as written.
	if got[2].Task == nil || got[2].Task.Status.State != api.TaskStateAssigned || got[2].Task.NodeID != "n1" {
		t.Fatalf("assign event carries %+v", got[2].Task)
	}
	if got[0].Service == nil || got[0].Service.Version != 1 {
		t.Fatalf("create event carries %+v", got[0].Service)
	}
	if got[7].Node == nil || got[7].Node.ID != "n1" {
		t.Fatalf("remove event carries %+v", got[7].Node)
	}
}

// TestSubscribeSnapshotAndStreamNeitherMissNorRepeat runs writers that create
// and delete tasks while a subscriber joins midway; its snapshot plus the
// events after it must rebuild the final set of tasks exactly.
func TestSubscribeSnapshotAndStreamNeitherMissNorRepeat(t *testing.T) {
	const writers, perWriter = 4, 60
	for round := 0; round < 5; round++ {
		e := newEnv(t)
		joinAt := 20 + round*40       // commands applied before the subscriber joins
		joined := make(chan struct{}) // closed once joinAt commands are applied
		var mu sync.Mutex
		count := 0

		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []string
				for i := 0; i < perWriter; i++ {
					var op state.Op
					if i%3 == 2 {
						// Delete one of our own tasks, so every command
						// makes exactly one event.
						op = state.Op{Kind: state.OpDeleteTask, ID: mine[0]}
						mine = mine[1:]
					} else {
						id := fmt.Sprintf("w%d-%d", w, i)
						op = createTask(newTask(id, "s", uint64(i+1)))
						mine = append(mine, id)
					}
					res, err := e.p.Propose(context.Background(), &state.Command{Atomic: true, Ops: []state.Op{op}})
					if err != nil || res.Err != nil {
						t.Errorf("writer %d: %v %v", w, err, res.Err)
						return
					}
					mu.Lock()
					count++
					if count == joinAt {
						close(joined)
					}
					mu.Unlock()
				}
			}()
		}
		allDone := make(chan struct{})
		go func() { wg.Wait(); close(allDone) }()
		select {
		case <-joined:
		case <-allDone: // a writer failed; it reported why
		}
		snap, sub := e.store.Subscribe()
		<-allDone
		if t.Failed() {
			sub.Close()
			return
		}
		final := e.store.Read()

		have := map[string]bool{}
		for _, tk := range snap.Tasks() {
			have[tk.ID] = true
		}
		last := snap.Index()
		ctx := testCtx(t)
		for last < final.Index() {
			evs, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("round %d: waiting for index %d (at %d): %v", round, final.Index(), last, err)
			}
			for _, ev := range evs {
				if ev.Index <= snap.Index() {
					t.Fatalf("round %d: event at index %d is already in the snapshot at %d", round, ev.Index, snap.Index())
				}
				if ev.Index != last+1 {
					t.Fatalf("round %d: event index %d after %d: a write was missed or repeated", round, ev.Index, last)
				}
				last = ev.Index
				switch ev.Action {
				case api.ActionCreate:
					if have[ev.ID] {
						t.Fatalf("round %d: task %s created twice", round, ev.ID)
					}
					have[ev.ID] = true
				case api.ActionRemove:
					if !have[ev.ID] {
						t.Fatalf("round %d: task %s removed but never seen", round, ev.ID)
					}
					delete(have, ev.ID)
				}
			}
		}
		sub.Close()
		var got, want []string
		for id := range have {
			got = append(got, id)
		}
		want = ids(final.Tasks())
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: rebuilt %d tasks, store has %d:\n got %v\nwant %v", round, len(got), len(want), got, want)
		}
		if final.Index() != writers*perWriter {
			t.Fatalf("round %d: final index %d, want %d", round, final.Index(), writers*perWriter)
		}
	}
}

func TestSubscriptionCloseWakesBlockedNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := state.NewStore()
		_, sub := s.Subscribe()
		done := make(chan error, 1)
		go func() {
			_, err := sub.Next(context.Background())
			done <- err
		}()
		synctest.Wait() // Next is blocked waiting for events
		select {
		case err := <-done:
			t.Fatalf("Next returned %v before any event or Close", err)
		default:
		}
		sub.Close()
		if err := <-done; !errors.Is(err, state.ErrClosed) {
			t.Fatalf("Next after Close = %v, want ErrClosed", err)
		}
		// Writes after Close neither reach nor block the closed subscription.
		p := &state.LocalProposer{Store: s}
		if _, err := p.Propose(context.Background(), &state.Command{Ops: []state.Op{createService(newService("s1", "web"))}}); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Drain(); !errors.Is(err, state.ErrClosed) {
			t.Fatalf("Drain after Close = %v, want ErrClosed", err)
		}
		sub.Close() // closing twice is harmless
	})
}

func TestSubscriptionNextReturnsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := state.NewStore()
		_, sub := s.Subscribe()
		defer sub.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := sub.Next(ctx)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel = %v, want context.Canceled", err)
		}
	})
}

func TestSubscriptionNextWakesOnCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := state.NewStore()
		_, sub := s.Subscribe()
		defer sub.Close()
		done := make(chan []api.Event, 1)
		go func() {
			evs, err := sub.Next(context.Background())
			if err != nil {
				t.Errorf("Next: %v", err)
			}
			done <- evs
		}()
		synctest.Wait()
		p := &state.LocalProposer{Store: s}
		if _, err := p.Propose(context.Background(), &state.Command{Ops: []state.Op{createService(newService("s1", "web"))}}); err != nil {
			t.Fatal(err)
		}
		evs := <-done
		if len(evs) != 1 || evs[0].ID != "s1" || evs[0].Index != 1 {
			t.Fatalf("Next woke with %+v", evs)
		}
	})
}

func TestSubscriptionReadyAndDrain(t *testing.T) {
	e := newEnv(t)
	_, sub := e.store.Subscribe()
	defer sub.Close()
	if evs, err := sub.Drain(); err != nil || len(evs) != 0 {
		t.Fatalf("Drain with nothing queued = %v, %v", evs, err)
	}
	e.must(step(1), createService(newService("s1", "web")))
	e.must(step(2), createService(newService("s2", "api")))
	ctx := testCtx(t)
	select {
	case <-sub.Ready():
	case <-ctx.Done():
		t.Fatal("Ready never fired after a commit")
	}
	evs, err := sub.Drain()
	if err != nil || len(evs) != 2 || evs[0].ID != "s1" || evs[1].ID != "s2" {
		t.Fatalf("Drain = %+v, %v; want s1 then s2", evs, err)
	}
	if evs, err := sub.Drain(); err != nil || len(evs) != 0 {
		t.Fatalf("second Drain = %v, %v; want nothing", evs, err)
	}
}

func TestSubscriptionsAreIndependent(t *testing.T) {
	// A reader that drains does not take events from another.
	e := newEnv(t)
	_, a := e.store.Subscribe()
	defer a.Close()
	_, b := e.store.Subscribe()
	e.must(step(1), createService(newService("s1", "web")))
	if evs, _ := a.Drain(); len(evs) != 1 {
		t.Fatalf("a got %v", evs)
	}
	b.Close()
	e.must(step(2), createService(newService("s2", "api")))
	if evs, _ := a.Drain(); len(evs) != 1 || evs[0].ID != "s2" {
		t.Fatalf("a got %v after b closed", evs)
	}
}

// A bounded subscription whose reader falls behind by more than its limit
// is closed with ErrSlowSubscriber, and the store forgets it: its queue
// never grows past the limit, and the writers never wait for it. An
// unbounded one keeps every event.
func TestBoundedSubscriptionClosesWhenItFallsBehind(t *testing.T) {
	e := newEnv(t)
	base := e.store.Subscribers()
	_, bounded := e.store.SubscribeBounded(3)
	defer bounded.Close()
	_, all := e.store.Subscribe()
	defer all.Close()
	if n := e.store.Subscribers(); n != base+2 {
		t.Fatalf("%d subscribers, want %d", n, base+2)
	}
	e.must(step(1), createService(newService("s1", "web")))
	e.must(step(2), createService(newService("s2", "db")))
	e.must(step(3), createService(newService("s3", "cache")))
	// Three queued: at the limit, still open.
	if n := e.store.Subscribers(); n != base+2 {
		t.Fatalf("at the limit: %d subscribers, want %d", n, base+2)
	}
	e.must(step(4), createService(newService("s4", "queue")))
	if n := e.store.Subscribers(); n != base+1 {
		t.Fatalf("past the limit: %d subscribers, want %d (the bounded one forgotten)", n, base+1)
	}
	for _, read := range []func() error{
		func() error { _, err := bounded.Next(testCtx(t)); return err },
		func() error { _, err := bounded.Drain(); return err },
	} {
		if err := read(); !errors.Is(err, state.ErrSlowSubscriber) {
			t.Fatalf("read after overflow: %v, want ErrSlowSubscriber", err)
		}
	}
	bounded.Close() // closing again is harmless, and keeps the reason
	if _, err := bounded.Drain(); !errors.Is(err, state.ErrSlowSubscriber) {
		t.Fatalf("after Close: %v, want ErrSlowSubscriber", err)
	}
	if evs := collect(t, all, 4); len(evs) != 4 {
		t.Fatalf("the unbounded subscription has %d events, want 4", len(evs))
	}
}

// TestSubscribersShareEventsSafely: subscriptions that read between
// commits get the commit's events themselves, not copies; a reader
// appending to what it got changes nothing another reads, and a
// subscription that did not read keeps every commit's events in order.
func TestSubscribersShareEventsSafely(t *testing.T) {
	s := state.NewStore()
	p := &state.LocalProposer{Store: s}
	_, a := s.Subscribe()
	_, b := s.Subscribe()
	defer a.Close()
	defer b.Close()
	propose := func(ops ...state.Op) {
		t.Helper()
		if _, err := p.Propose(context.Background(), &state.Command{Ops: ops}); err != nil {
			t.Fatal(err)
		}
	}
	propose(state.Op{Kind: state.OpCreateService, Service: newService("s1", "web")})
	ea, _ := a.Drain()
	eb, _ := b.Drain()
	if len(ea) != 1 || len(eb) != 1 || &ea[0] != &eb[0] {
		t.Fatalf("the commit's events are not shared: %d and %d events", len(ea), len(eb))
	}
	ea = append(ea, api.Event{ID: "mine"})
	propose(state.Op{Kind: state.OpCreateTask, Task: newTask("t1", "s1", 1)})
	propose(state.Op{Kind: state.OpCreateTask, Task: newTask("t2", "s1", 2)})
	eb, _ = b.Drain()
	if len(eb) != 2 || eb[0].ID != "t1" || eb[1].ID != "t2" {
		t.Fatalf("events of two commits: %+v", eb)
	}
	ea2, _ := a.Drain()
	if len(ea2) != 2 || ea2[0].ID != "t1" || ea[1].ID != "mine" {
		t.Fatalf("a reader's append reached another's events: %+v, %+v", ea2, ea)
	}
}
