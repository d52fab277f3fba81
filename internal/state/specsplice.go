package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/shoalproject/shoal/api"
)

// A task creation's spec is its service's task template: 10,000 creations
// of one service version carry 10,000 copies of the same spec, which the
// proposer encoded and the FSM decoded one by one (issue 15: a third of
// the JSON work of a deploy). The log entries keep their bytes, so no
// manager of an earlier version reads them differently; only the work
// changes. The proposer encodes the spec of a service version once and
// splices the bytes into every creation of that version (encodeSpliced);
// the FSM reads a creation's spec as raw bytes and, when they are the
// encoding of a template it has checked decodes back to itself, takes
// that template instead of decoding them (decodeJSON).

// specKey names a service version.
type specKey struct {
	service string
	version uint64
}

// specCacheMax bounds each cache: a cleared cache only costs one encoding
// of each service version again.
const specCacheMax = 1024

// specEncoding is a spec and its JSON encoding.
type specEncoding struct {
	spec api.TaskSpec
	raw  []byte
	// orig is the proposer's spec the encoding was made from (a service's
	// template, shared by its tasks), spec its decoding: a task whose spec
	// is a shallow copy of orig encodes as raw as long as orig is still
	// equal to spec, which each command checks once.
	orig api.TaskSpec
}

// encodeCache is the proposers' encodings of task specs by service
// version.
var encodeCache struct {
	sync.Mutex
	m map[specKey]*specEncoding
}

// splicedSpec returns the JSON encoding of t's spec, from the cache when
// the spec equals the cached one of its service version, and false when
// it cannot be spliced: its encoding does not decode back to an equal
// spec, which the cache needs (equal specs encode alike:
// TestTaskSpecHasNoFloats keeps the one exception, a float's -0, out).
// verified holds the entries whose orig this command has found unchanged.
func splicedSpec(t *api.Task, verified *[]*specEncoding) ([]byte, bool) {
	key := specKey{t.ServiceID, t.SpecVersion}
	encodeCache.Lock()
	e := encodeCache.m[key]
	encodeCache.Unlock()
	if e != nil {
		if sameSpec(&t.Spec, &e.orig) {
			if slices.Contains(*verified, e) {
				return e.raw, true
			}
			if reflect.DeepEqual(&e.orig, &e.spec) {
				*verified = append(*verified, e)
				return e.raw, true
			}
		} else if reflect.DeepEqual(&t.Spec, &e.spec) {
			return e.raw, true
		}
	}
	raw, err := json.Marshal(t.Spec)
	if err != nil {
		return nil, false
	}
	e = &specEncoding{raw: raw, orig: t.Spec}
	if json.Unmarshal(raw, &e.spec) != nil || !reflect.DeepEqual(&t.Spec, &e.spec) {
		return nil, false
	}
	*verified = append(*verified, e)
	encodeCache.Lock()
	if encodeCache.m == nil || len(encodeCache.m) >= specCacheMax {
		encodeCache.m = make(map[specKey]*specEncoding)
	}
	encodeCache.m[key] = e
	encodeCache.Unlock()
	return raw, true
}

// spliceable reports whether op is written as an opTaskJSON: a task and
// nothing else but its kind.
func spliceable(op *Op) bool {
	if op.Task == nil {
		return false
	}
	o := *op
	o.Kind, o.Task = "", nil
	return reflect.ValueOf(&o).Elem().IsZero()
}

// encodeSpliced returns json.Marshal(cmd)'s bytes, task specs spliced in
// from encodeCache; false when cmd has no task to splice.
func encodeSpliced(cmd *Command) ([]byte, bool, error) {
	n := 0
	for i := range cmd.Ops {
		if spliceable(&cmd.Ops[i]) {
			n++
		}
	}
	if n == 0 {
		return nil, false, nil
	}
	var out *commandOut
	var verified []*specEncoding
	// One allocation for the mirrors of all the command's tasks.
	ops := make([]opTaskJSON, 0, n)
	tasks := make([]taskJSON, 0, n)
	for i := range cmd.Ops {
		op := &cmd.Ops[i]
		if !spliceable(op) {
			continue
		}
		raw, ok := splicedSpec(op.Task, &verified)
		if !ok {
			continue
		}
		if out == nil {
			out = &commandOut{Time: cmd.Time, Atomic: cmd.Atomic, Ops: make([]any, len(cmd.Ops))}
			for j := range cmd.Ops {
				out.Ops[j] = &cmd.Ops[j]
			}
		}
		tasks = append(tasks, taskJSON{})
		newTaskJSON(&tasks[len(tasks)-1], op.Task, raw)
		ops = append(ops, opTaskJSON{Kind: op.Kind, Task: &tasks[len(tasks)-1]})
		out.Ops[i] = &ops[len(ops)-1]
	}
	if out == nil {
		return nil, false, nil
	}
	b, err := json.Marshal(out)
	return b, true, err
}

// marshalOp returns json.Marshal(op)'s bytes, its task's spec spliced in
// as encodeSpliced does.
func marshalOp(op *Op, verified *[]*specEncoding) ([]byte, error) {
	if spliceable(op) {
		if raw, ok := splicedSpec(op.Task, verified); ok {
			var t taskJSON
			newTaskJSON(&t, op.Task, raw)
			return json.Marshal(&opTaskJSON{Kind: op.Kind, Task: &t})
		}
	}
	return json.Marshal(op)
}

// specCache is the FSM's: the encodings of service versions' templates
// that decode back to them exactly, filled as tasks of a version are
// created (learn), read as entries are decoded.
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
func decodeJSON(data []byte, cmd *Command, c *specCache) error {
	var in commandJSON
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
	n := 0
	for i := range in.Ops {
		if in.Ops[i].Task != nil {
			n++
		}
	}
	// One allocation for all the command's tasks: the store keeps copies.
	tasks := make([]api.Task, n)
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
