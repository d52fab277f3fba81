package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/testutil/mgrproc"
)

// valueLabel holds a key's value on its config or service.
const valueLabel = "jepsen.value"

// opTimeout bounds one operation: past it, its result is unknown.
const opTimeout = 20 * time.Second

type workload struct {
	cl     *mgrproc.Cluster
	marker string // in the env of every task, to find their processes
	h      *history
	stop   chan struct{}
}

func isService(key string) bool { return key[:4] == "jsvc" }

// run is one client: random operations on random keys through random
// managers until stop.
func (w *workload) run(ctx context.Context, t *testing.T, id int, rng *rand.Rand) {
	keys := append(append([]string(nil), configKeys...), serviceKeys...)
	for n := 0; ; n++ {
		select {
		case <-w.stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		in := input{Key: keys[rng.Intn(len(keys))]}
		switch r := rng.Intn(100); {
		case r < 35:
			in.Op = opCreate
		case r < 70:
			in.Op = opUpdate
		default:
			in.Op = opRemove
		}
		if in.Op != opRemove {
			in.Value = fmt.Sprintf("c%d-%d", id, n)
		}
		m := w.cl.Managers[rng.Intn(len(w.cl.Managers))]
		if o, ok := w.do(ctx, t, id, m, in); ok {
			w.h.add(o)
		} else {
			// Not sent (the manager is down): nothing to record.
			select {
			case <-time.After(50 * time.Millisecond):
			case <-w.stop:
			}
		}
		select {
		case <-time.After(time.Duration(rng.Intn(30)) * time.Millisecond):
		case <-w.stop:
		}
	}
}

// do runs in through m and classifies its answer; ok is false when the
// request was never sent.
func (w *workload) do(ctx context.Context, t *testing.T, id int, m *mgrproc.Manager, in input) (op, bool) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	o := op{Client: id, Manager: m.Index, In: in, Start: time.Now()}
	value, err := w.apply(octx, m.Client(), in)
	o.End = time.Now()
	var apiErr *client.Error
	var netErr *net.OpError
	switch {
	case err == nil:
		o.Out = output{Res: resOK, Value: value}
	case client.IsConflict(err) && in.Op == opCreate:
		o.Out = output{Res: resExists}
	case client.IsNotFound(err) && in.Op != opCreate:
		o.Out = output{Res: resNotFound}
	case errors.As(err, &netErr) && netErr.Op == "dial":
		return o, false
	case errors.As(err, &apiErr) && apiErr.StatusCode < http.StatusInternalServerError:
		// A refusal the test did not expect: a bug of the test or the
		// API, not an ambiguity.
		t.Errorf("%s %s via manager %d: %v", in.Op, in.Key, m.Index+1, err)
		o.Out, o.Err = output{Res: resUnknown}, err.Error()
	default:
		o.Out, o.Err = output{Res: resUnknown}, err.Error()
	}
	return o, true
}

// apply sends in; a read returns the value seen.
func (w *workload) apply(ctx context.Context, c *client.Client, in input) (string, error) {
	labels := map[string]string{valueLabel: in.Value}
	if isService(in.Key) {
		spec := api.ServiceSpec{Name: in.Key, Labels: labels,
			Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{
				Command: []string{"sleep", "3600"}, Env: []string{w.marker}}}}
		switch in.Op {
		case opCreate:
			_, err := c.ServiceCreate(ctx, spec)
			return "", err
		case opUpdate:
			_, err := c.ServiceUpdate(ctx, in.Key, 0, spec)
			return "", err
		case opRemove:
			return "", c.ServiceRemove(ctx, in.Key)
		}
		s, err := c.ServiceInspect(ctx, in.Key)
		if err != nil {
			return "", err
		}
		return s.Spec.Labels[valueLabel], nil
	}
	switch in.Op {
	case opCreate:
		_, err := c.ConfigCreate(ctx, api.ConfigSpec{Name: in.Key, Labels: labels, Data: []byte("jepsen")})
		return "", err
	case opUpdate:
		_, err := c.ConfigUpdate(ctx, in.Key, 0, api.ConfigSpec{Labels: labels})
		return "", err
	case opRemove:
		return "", c.ConfigRemove(ctx, in.Key)
	}
	cfg, err := c.ConfigInspect(ctx, in.Key)
	if err != nil {
		return "", err
	}
	return cfg.Spec.Labels[valueLabel], nil
}

// finalReads reads every key on the leader once the cluster converged,
// after every other operation returned: the acknowledged writes must be
// there.
func (w *workload) finalReads(ctx context.Context, t *testing.T, leader *mgrproc.Manager) {
	for _, k := range append(append([]string(nil), configKeys...), serviceKeys...) {
		o, ok := w.do(ctx, t, clients, leader, input{Op: opRead, Key: k})
		if !ok || o.Out.Res == resUnknown {
			t.Errorf("final read of %s on the leader: %s", k, o.Err)
			continue
		}
		w.h.add(o)
	}
}
