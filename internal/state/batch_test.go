package state

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// recordingProposer applies commands and records their sizes.
type recordingProposer struct {
	LocalProposer
	ops   []int
	bytes []int
}

func (p *recordingProposer) Propose(ctx context.Context, cmd *Command) (Result, error) {
	b, err := EncodeCommand(cmd)
	if err != nil {
		return Result{}, err
	}
	p.ops = append(p.ops, len(cmd.Ops))
	p.bytes = append(p.bytes, len(b))
	return p.LocalProposer.Propose(ctx, cmd)
}

// Many ops, or big ones, go out as several bounded commands, and each op's
// error comes back in the order of the ops.
func TestProposeBatchesBoundsEachCommand(t *testing.T) {
	store := NewStore()
	p := &recordingProposer{LocalProposer: LocalProposer{Store: store}}
	svc := &api.Service{ID: "s1", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web",
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"app"},
			// About 200 KB per task: 40 tasks are over MaxCommandBytes.
			Env: []string{"BIG=" + strings.Repeat("x", 200<<10)}}}}}
	if _, err := p.Propose(context.Background(), &Command{Ops: []Op{{Kind: OpCreateService, Service: svc}}}); err != nil {
		t.Fatal(err)
	}
	p.ops, p.bytes = nil, nil
	var ops []Op
	for i := 1; i <= 1200; i++ {
		ops = append(ops, Op{Kind: OpDeleteTask, ID: fmt.Sprintf("missing%d", i)})
	}
	for i := 1; i <= 100; i++ {
		ops = append(ops, Op{Kind: OpCreateTask, Task: api.NewTask(svc, uint64(i), "", store.Read().Service("s1").CreatedAt)})
	}
	errs, err := ProposeBatches(context.Background(), p, svc.CreatedAt, ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != len(ops) {
		t.Fatalf("%d op errors for %d ops", len(errs), len(ops))
	}
	for i, e := range errs {
		if want := i < 1200; (e != nil) != want {
			t.Fatalf("op %d (%s): error %v", i, ops[i].Kind, e)
		}
	}
	for i := range p.ops {
		if p.ops[i] > MaxOpsPerCommand || p.bytes[i] > MaxCommandBytes+1024 {
			t.Errorf("command %d: %d ops, %d bytes", i, p.ops[i], p.bytes[i])
		}
	}
	if len(p.ops) < 1200/MaxOpsPerCommand+100*(200<<10)/MaxCommandBytes {
		t.Errorf("%d commands (%v), too few for their bounds", len(p.ops), p.ops)
	}
	if n := len(store.Read().TasksByService("s1")); n != 100 {
		t.Errorf("%d tasks made, want 100", n)
	}
}
