package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/internal/testutil"
)

// fakeGrower is told when to look again, as Windows' change
// notifications and their backstop (a look with no change) do: a send on
// ticks returns from Wait, so a second send means the follower copied
// after the first and waits again.
type fakeGrower struct {
	ticks chan struct{}
	woken chan struct{}
	once  sync.Once
	fail  error
}

func (g *fakeGrower) Wait() error {
	select {
	case <-g.woken:
		return errWoken
	case <-g.ticks:
		return g.fail
	}
}

func (g *fakeGrower) Wake()        { g.once.Do(func() { close(g.woken) }) }
func (g *fakeGrower) Close() error { return nil }

// The follow loop that Windows runs over change notifications: it copies
// what was added when told to look, reads a shrunk (rotated) file from its
// start, copies what was written last when the task exits, and ends on
// the grower's error.
func TestFollowLoop(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stdout.log")
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.WriteString("a\n")
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g := &fakeGrower{ticks: make(chan struct{}), woken: make(chan struct{})}
	done := make(chan struct{})
	var out testutil.SyncBuffer
	errc := make(chan error, 1)
	go func() { errc <- follow(context.Background(), done, r, g, &out) }()
	look := func(want string) {
		t.Helper()
		g.ticks <- struct{}{}
		g.ticks <- struct{}{}
		if got := out.String(); got != want {
			t.Fatalf("followed %q, want %q", got, want)
		}
	}
	look("a\n")
	w.WriteString("bb\n")
	look("a\nbb\n")
	look("a\nbb\n") // a look with nothing new copies nothing
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	w.WriteString("c\n")
	look("a\nbb\nc\n")
	w.WriteString("last\n")
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "a\nbb\nc\nlast\n" {
		t.Errorf("followed %q: want what was written last too", got)
	}

	// A grower that fails ends following with its error.
	g = &fakeGrower{ticks: make(chan struct{}, 1), woken: make(chan struct{}), fail: errors.New("WaitForMultipleObjects: bad handle")}
	g.ticks <- struct{}{}
	if err := follow(context.Background(), make(chan struct{}), r, g, &out); err != g.fail {
		t.Errorf("follow with a failing grower: %v", err)
	}
}
