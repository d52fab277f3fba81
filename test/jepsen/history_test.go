package jepsen

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// The history is a list of operations on keys; a key is one object, a
// config or a service, by name. Each key is a register that is absent or
// holds a value (the object's "jepsen.value" label); every write carries
// a value no other write uses.

type opKind string

const (
	opCreate opKind = "create"
	opUpdate opKind = "update"
	opRemove opKind = "remove"
	opRead   opKind = "read"
)

// result is what the API answered.
type result string

const (
	resOK       result = "ok"
	resExists   result = "exists"   // 409 on create
	resNotFound result = "notfound" // 404 on update, remove or read
	// resUnknown: the write may or may not have happened (a timeout, a
	// lost connection, a leader that lost its leadership mid-write).
	resUnknown result = "unknown"
)

type input struct {
	Op    opKind
	Key   string
	Value string // written by create and update
}

type output struct {
	Res result
	// Value is what a read saw (Res ok).
	Value string
}

// state is one key's register.
type state struct {
	Present bool
	Value   string
}

// op is one recorded operation.
type op struct {
	Client     int
	Manager    int
	In         input
	Out        output
	Start, End time.Time
	Err        string
}

type history struct {
	mu  sync.Mutex
	t0  time.Time
	ops []op
}

func (h *history) add(o op) {
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

func (h *history) snapshot() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]op(nil), h.ops...)
}

// porcupineOps converts the history: an unknown result never returned
// (its end is infinity), so it may take effect at any time after it was
// called, or never.
func porcupineOps(ops []op, t0 time.Time) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for _, o := range ops {
		end := int64(o.End.Sub(t0))
		if o.Out.Res == resUnknown {
			end = math.MaxInt64
		}
		out = append(out, porcupine.Operation{ClientId: o.Client, Input: o.In, Output: o.Out,
			Call: int64(o.Start.Sub(t0)), Return: end, Metadata: fmt.Sprintf("m%d %s", o.Manager+1, o.Err)})
	}
	return out
}

// applies is the state after in, and whether in can succeed in s.
func applies(s state, in input) (state, bool) {
	switch in.Op {
	case opCreate:
		return state{Present: true, Value: in.Value}, !s.Present
	case opUpdate:
		return state{Present: true, Value: in.Value}, s.Present
	case opRemove:
		return state{}, s.Present
	}
	return s, true
}

// registerModel is the sequential specification of one key, partitioned
// by key.
var registerModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Input.(input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		sort.Strings(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{state{}} },
	Step: func(st, in, out any) []any {
		s, i, o := st.(state), in.(input), out.(output)
		next, ok := applies(s, i)
		switch {
		case i.Op == opRead:
			if (o.Res == resOK && s.Present && s.Value == o.Value) || (o.Res == resNotFound && !s.Present) {
				return []any{s}
			}
		case o.Res == resUnknown:
			if ok {
				return []any{s, next}
			}
			return []any{s}
		case o.Res == resOK:
			if ok {
				return []any{next}
			}
		case o.Res == resExists && i.Op == opCreate, o.Res == resNotFound && i.Op != opCreate:
			// Refused: a refusal that fits the state changes nothing.
			if !ok {
				return []any{s}
			}
		}
		return nil
	},
	DescribeOperation: func(in, out any) string {
		i, o := in.(input), out.(output)
		if i.Op == opRead {
			return fmt.Sprintf("read(%s) -> %s %s", i.Key, o.Res, o.Value)
		}
		return fmt.Sprintf("%s(%s, %s) -> %s", i.Op, i.Key, i.Value, o.Res)
	},
	DescribeState: func(st any) string {
		s := st.(state)
		if !s.Present {
			return "absent"
		}
		return s.Value
	},
}

// describeKey is the history of one key, in call order, for a report.
func describeKey(ops []op, key string, t0 time.Time) string {
	var mine []op
	for _, o := range ops {
		if o.In.Key == key {
			mine = append(mine, o)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Start.Before(mine[j].Start) })
	var b strings.Builder
	for _, o := range mine {
		fmt.Fprintf(&b, "  [%9.3fs .. %9.3fs] client %d via m%d: %s(%s %s) -> %s %s %s\n",
			o.Start.Sub(t0).Seconds(), o.End.Sub(t0).Seconds(), o.Client, o.Manager+1, o.In.Op, o.In.Key, o.In.Value, o.Out.Res, o.Out.Value, o.Err)
	}
	return b.String()
}
