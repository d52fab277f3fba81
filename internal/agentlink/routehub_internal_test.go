package agentlink

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
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

// A routes stream keeps no buffer the size of its largest line: a
// commit of many routed changes (a service scaled up, a node's tasks
// moved) makes every stream write one large line, and a buffer each
// stream kept for the rest of its life would be that line times the
// nodes.
func TestRoutesStreamsKeepNoLineBuffer(t *testing.T) {
	store := state.NewStore()
	p := &state.LocalProposer{Store: store}
	must := func(ops ...state.Op) {
		t.Helper()
		if res, err := p.Propose(context.Background(), &state.Command{Atomic: true, Ops: ops}); err != nil || res.Err != nil {
			t.Fatalf("propose: %v %v", err, res.Err)
		}
	}
	must(state.Op{Kind: state.OpCreateService, Service: &api.Service{ID: "svcid", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web",
		Labels: map[string]string{"traefik.http.routers.web.rule": "PathPrefix(`/`)"}}}})
	s := NewServer(ServerConfig{Store: store, Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const streams, tasks = 8, 3000
	var wg sync.WaitGroup
	ws := make([]*lineSink, streams)
	for i := range ws {
		w := &lineSink{header: http.Header{}, big: make(chan struct{}), first: make(chan struct{})}
		ws[i] = w
		r := httptest.NewRequest(http.MethodGet, pathRoutes, nil)
		r = r.WithContext(context.WithValue(ctx, identityKey{}, ca.Identity{NodeID: fmt.Sprintf("node%021d", i)}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.routes(w, r)
		}()
		<-w.first
	}
	ops := make([]state.Op, tasks)
	for i := range ops {
		ops[i] = state.Op{Kind: state.OpCreateTask, Task: &api.Task{ID: fmt.Sprintf("task%021d", i), ServiceID: "svcid", ServiceName: "web",
			Slot: uint64(i + 1), SpecVersion: 1, DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStatePending}}}
	}
	must(ops...)
	var line int
	for _, w := range ws {
		select {
		case <-w.big:
		case <-time.After(30 * time.Second):
			t.Fatal("a stream never wrote the commit's line")
		}
		line = max(line, w.size())
	}
	held := heapInUse()
	cancel()
	wg.Wait()
	after := heapInUse()
	if kept := int(held) - int(after); kept > streams*line/4 {
		t.Fatalf("%d streams held %d KiB more than none after a line of %d KiB each: each keeps its line's buffer", streams, kept>>10, line>>10)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// lineSink is a routes stream's ResponseWriter that keeps only the size
// of the largest write: big closes on one past 64 KiB, first on the
// first.
type lineSink struct {
	header     http.Header
	mu         sync.Mutex
	largest    int
	big, first chan struct{}
	bigOnce    sync.Once
	firstOnce  sync.Once
}

func (w *lineSink) Header() http.Header { return w.header }
func (w *lineSink) WriteHeader(int)     {}
func (w *lineSink) Flush()              {}
func (w *lineSink) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.largest = max(w.largest, len(b))
	w.mu.Unlock()
	w.firstOnce.Do(func() { close(w.first) })
	if len(b) > 64<<10 {
		w.bigOnce.Do(func() { close(w.big) })
	}
	return len(b), nil
}

func (w *lineSink) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.largest
}
