package agentlink

import (
	"context"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// A hub's run let go (its last stream left, or the server closed) stops
// at once, even with changes queued: Subscription.Next hands out what is
// queued before it looks at ctx, so a feed that only waits on Next goes
// on for as long as commits keep coming, holding its subscription, and
// Close waits for it.
func TestRouteHubFeedStopsWhenLetGoWithChangesQueued(t *testing.T) {
	store := state.NewStore()
	p := &state.LocalProposer{Store: store}
	_, sub := store.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Committed after the run was let go, before its feed read again.
	if res, err := p.Propose(context.Background(), &state.Command{Ops: []state.Op{{Kind: state.OpCreateService,
		Service: &api.Service{ID: "s", SpecVersion: 1, Spec: api.ServiceSpec{Name: "s", Labels: map[string]string{"a": "b"}}}}}}); err != nil || res.Err != nil {
		t.Fatalf("propose: %v %v", err, res.Err)
	}
	st := &routeStream{limit: 100, wake: make(chan struct{}, 1)}
	run := &hubRun{cancel: cancel, streams: map[*routeStream]struct{}{st: {}}}
	var h routeHub
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.feed(ctx, sub, run)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the feed of a run let go did not return")
	}
	if q, _ := st.drain(); len(q) != 0 {
		t.Fatalf("the feed of a run let go handed out %d batches: it reads on while changes come", len(q))
	}
}
