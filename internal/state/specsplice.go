package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/shoalproject/shoal/api"
)

// A task creation's spec is its service's task template: 10,000 creations
// of one service version carry 10,000 copies of the same spec, which every
// manager's FSM decoded one by one (issue 15). The FSM reads a creation's
// spec as raw bytes and, when they are the encoding of a template it has
// checked decodes back to itself exactly, takes that template instead of
// decoding them (decodeJSON): the store gets what decoding them would
// give. The log entries keep their bytes (the proposers write them with
// json.Marshal as before), so managers of every version read them alike.

// specKey names a service version.
type specKey struct {
	service string
	version uint64
}

// specCacheMax bounds the cache: a cleared cache only costs one encoding
// of each service version again.
const specCacheMax = 1024

// specEncoding is a template and its JSON encoding.
type specEncoding struct {
	spec api.TaskSpec
	raw  []byte
}

// specCache is the FSM's: the encodings of service versions' templates
// that decode back to them exactly, filled as tasks of a version are
// created and services written (learn), read as entries are decoded.
type specCache struct {
	mu sync.Mutex
	m  map[specKey]*specEncoding
}

// learn records the encoding of svc's template unless known. One whose
// decoding is not equal to the template is recorded without an encoding,
// so that it is not tried again.
func (c *specCache) learn(svc *api.Service) {
	key := specKey{svc.ID, svc.SpecVersion}
	c.mu.Lock()
	_, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return
	}
	e := &specEncoding{spec: svc.Spec.TaskTemplate}
	if raw, err := json.Marshal(svc.Spec.TaskTemplate); err == nil {
		var back api.TaskSpec
		if json.Unmarshal(raw, &back) == nil && reflect.DeepEqual(back, svc.Spec.TaskTemplate) {
			e.raw = raw
		}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= specCacheMax {
		c.m = make(map[specKey]*specEncoding)
	}
	c.m[key] = e
	c.mu.Unlock()
}

// spec sets t's spec from its log entry's bytes: the known template whose
// encoding they are, else their decoding.
func (c *specCache) spec(t *api.Task, r *rawSpec) error {
	if c != nil && r.rest == nil && r.first != nil {
		c.mu.Lock()
		e := c.m[specKey{t.ServiceID, t.SpecVersion}]
		c.mu.Unlock()
		if e != nil && e.raw != nil && bytes.Equal(r.first, e.raw) {
			t.Spec = e.spec
			return nil
		}
	}
	var first error
	for _, b := range append([][]byte{r.first}, r.rest...) {
		if b == nil {
			continue
		}
		if err := json.Unmarshal(b, &t.Spec); err != nil && first == nil {
			first = fmt.Errorf("task %s spec: %w", t.ID, err)
		}
	}
	return first
}

// decodeJSON decodes a JSON log entry as json.Unmarshal would into cmd,
// taking task specs from c where it can.
//
// The ops' array is sized beforehand from a count of their kinds' keys
// (an upper bound: the key may stand in a map too), so that decoding does
// not grow it by doubling; an entry with no task decodes straight into
// cmd. Either way an entry without "ops" gives no ops, as it applied
// before.
func decodeJSON(data []byte, cmd *Command, c *specCache) error {
	n := bytes.Count(data, []byte(`"k":`))
	if !bytes.Contains(data, []byte(`"t":`)) {
		if n > 0 {
			cmd.Ops = make([]Op, 0, n)
		}
		return json.Unmarshal(data, cmd)
	}
	var in commandJSON
	if n > 0 {
		in.Ops = make([]opJSON, 0, n)
	}
	err := json.Unmarshal(data, &in)
	if err != nil {
		return err
	}
	cmd.Time, cmd.Atomic = in.Time, in.Atomic
	if in.Ops == nil {
		cmd.Ops = nil
		return nil
	}
	cmd.Ops = make([]Op, len(in.Ops))
	nt := 0
	for i := range in.Ops {
		if in.Ops[i].Task != nil {
			nt++
		}
	}
	// One allocation for all the command's tasks: the store keeps copies.
	tasks := make([]api.Task, nt)
	for i := range in.Ops {
		var t *api.Task
		if in.Ops[i].Task != nil {
			t, tasks = &tasks[0], tasks[1:]
		}
		op, raw := in.Ops[i].op(t)
		if raw != nil {
			if err := c.spec(op.Task, raw); err != nil {
				return err
			}
		}
		cmd.Ops[i] = op
	}
	return nil
}
