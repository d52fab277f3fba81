package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoalproject/shoal/api"
)

// Log entry encodings. An entry is JSON (always begun by '{') or, when its
// first byte is codecCompact, the compact form below. Managers replay
// entries of both kinds: logs and snapshots written before the compact
// form are JSON.
//
// The compact form carries commands whose ops use only the small fields
// (kind, ID, expected version, node ID, desired state, message, report):
// the assignments, status reports and desired-state changes that make up
// most of a placement's entries, where JSON's decoding was a fifth of the
// FSM's time (issue 15). Commands with objects (tasks, services, nodes…)
// stay JSON.
const codecCompact byte = 0x01

// EncodeCommand returns the log entry data of cmd: JSON, which every
// version of shoal reads. Managers of this version read the compact form
// too but do not write it yet: a manager of an older version would skip
// a compact entry it cannot decode and drift from the others, so the
// writing side waits for a release whose managers all read it, or for a
// cluster-wide version gate (docs/architecture.md, "Two encodings of a
// log entry").
func EncodeCommand(cmd *Command) ([]byte, error) {
	if cmd.encoded != nil {
		return cmd.encoded, nil
	}
	return json.Marshal(cmd)
}

// EncodeCompact returns cmd in the compact form when every op fits it and
// JSON would store nothing differently, else JSON. Only tests and
// benchmarks write it today (EncodeCommand says why).
func EncodeCompact(cmd *Command) ([]byte, error) {
	if compactable(cmd) {
		e := compactEncoder{}
		e.command(cmd)
		if e.ok {
			return e.b, nil
		}
	}
	return json.Marshal(cmd)
}

// DecodeCommand decodes a log entry of either encoding.
func DecodeCommand(data []byte, cmd *Command) error {
	return decodeCommand(data, cmd, nil)
}

// decodeCommand is DecodeCommand, taking task specs the FSM knows from
// specs (nil: none).
func decodeCommand(data []byte, cmd *Command, specs *specCache) error {
	if len(data) > 0 && data[0] == codecCompact {
		return decodeCompact(data[1:], cmd)
	}
	return decodeJSON(data, cmd, specs)
}

// compactable reports whether every op of cmd uses only the fields the
// compact form carries (TestCompactCoversEveryOpField keeps this list
// whole when Op gains a field).
func compactable(cmd *Command) bool {
	for i := range cmd.Ops {
		op := &cmd.Ops[i]
		if op.Service != nil || op.Task != nil || op.Node != nil || op.NodeStatus != nil ||
			op.NodeSpec != nil || op.Config != nil || op.Secret != nil || op.Network != nil ||
			op.Labels != nil || op.Pool != nil || op.Tokens != nil || op.CertExpiry != 0 ||
			op.CA != nil || op.ExpectCA != nil || op.Lock != nil || op.CheckTokens ||
			op.ExpectTokens != nil {
			return false
		}
	}
	return true
}

// compactEncoder writes: the codec byte, the time, an atomic flag, the
// count of ops, then each op's fields in order. Strings are a uvarint
// length and the bytes; numbers are varints. It gives up (ok false, the
// command goes as JSON) on what JSON would not carry as it is: strings
// that are not UTF-8 (JSON replaces their bad bytes), times JSON refuses
// or rounds (years out of 0–9999, zone offsets of seconds), task states
// JSON cannot read back, so that both
// encodings apply, and snapshot, the same.
type compactEncoder struct {
	b  []byte
	ok bool
}

func (e *compactEncoder) command(cmd *Command) {
	e.ok = true
	e.b = make([]byte, 0, 64+48*len(cmd.Ops))
	e.b = append(e.b, codecCompact)
	e.time(cmd.Time)
	e.bool(cmd.Atomic)
	e.b = binary.AppendUvarint(e.b, uint64(len(cmd.Ops)))
	for i := range cmd.Ops {
		op := &cmd.Ops[i]
		e.string(string(op.Kind))
		e.string(op.ID)
		e.b = binary.AppendUvarint(e.b, op.ExpectVersion)
		e.string(op.NodeID)
		e.state(op.Desired)
		e.string(op.Message)
		e.bool(op.Report != nil)
		if op.Report != nil {
			e.report(op.Report)
		}
	}
}

func (e *compactEncoder) report(r *api.TaskReport) {
	e.string(r.TaskID)
	s := &r.Status
	e.state(s.State)
	e.time(s.Timestamp)
	e.time(s.AgentTimestamp)
	e.string(s.Message)
	e.string(s.Err)
	e.bool(s.ExitCode != nil)
	if s.ExitCode != nil {
		e.b = binary.AppendVarint(e.b, int64(*s.ExitCode))
	}
	e.string(s.RuntimeID)
	e.string(s.Health)
	// Endpoints: 0 is null (leave them), n+1 a list of n (replace them).
	if r.Endpoints == nil {
		e.b = binary.AppendUvarint(e.b, 0)
		return
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(r.Endpoints))+1)
	for _, ep := range r.Endpoints {
		e.b = binary.AppendUvarint(e.b, uint64(ep.TargetPort))
		e.string(ep.Protocol)
		e.string(ep.Addr)
	}
}

func (e *compactEncoder) string(s string) {
	if !utf8.ValidString(s) {
		e.ok = false
	}
	e.b = append(binary.AppendUvarint(e.b, uint64(len(s))), s...)
}

// state writes a task state; one without a name JSON would write, but
// not read back (the entry would be skipped), so it goes as JSON.
func (e *compactEncoder) state(s api.TaskState) {
	if strings.HasPrefix(s.String(), "state(") {
		e.ok = false
	}
	e.b = binary.AppendVarint(e.b, int64(s))
}

func (e *compactEncoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// time writes t as time.MarshalBinary does: the instant and the zone
// offset, which is what JSON keeps too.
func (e *compactEncoder) time(t time.Time) {
	_, offset := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || offset%60 != 0 {
		e.ok = false
		return
	}
	tb, err := t.MarshalBinary()
	if err != nil {
		e.ok = false
		return
	}
	e.b = append(binary.AppendUvarint(e.b, uint64(len(tb))), tb...)
}

var errShortEntry = errors.New("compact entry: truncated")

// compactReader reads the compact form; the first error sticks.
type compactReader struct {
	b   []byte
	err error
}

func (r *compactReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *compactReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShortEntry)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *compactReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errShortEntry)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *compactReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(errShortEntry)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *compactReader) string() string {
	if b := r.bytes(); len(b) > 0 {
		return string(b)
	}
	return ""
}

func (r *compactReader) bool() bool {
	if r.err != nil {
		return false
	}
	if len(r.b) == 0 {
		r.fail(errShortEntry)
		return false
	}
	v := r.b[0]
	r.b = r.b[1:]
	if v > 1 {
		r.fail(fmt.Errorf("compact entry: bad flag %d", v))
	}
	return v == 1
}

func (r *compactReader) time() time.Time {
	b := r.bytes()
	var t time.Time
	if r.err == nil {
		if err := t.UnmarshalBinary(b); err != nil {
			r.fail(fmt.Errorf("compact entry: %w", err))
		}
	}
	// JSON writes every zero offset as "Z" and reads it back as UTC.
	if _, offset := t.Zone(); offset == 0 {
		return t.UTC()
	}
	return t
}

// int reads a varint that must fit an int.
func (r *compactReader) int() int {
	v := r.varint()
	if int64(int(v)) != v {
		r.fail(fmt.Errorf("compact entry: number %d out of range", v))
		return 0
	}
	return int(v)
}

// opKind returns the kind's constant, so that decoding allocates no
// string for it.
func opKind(b []byte) OpKind {
	switch string(b) {
	case string(OpTaskStatus):
		return OpTaskStatus
	case string(OpAssignTask):
		return OpAssignTask
	case string(OpSetDesiredState):
		return OpSetDesiredState
	case string(OpPendingReason):
		return OpPendingReason
	case string(OpDeleteTask):
		return OpDeleteTask
	}
	return OpKind(b)
}

func decodeCompact(data []byte, cmd *Command) error {
	r := &compactReader{b: data}
	cmd.Time = r.time()
	cmd.Atomic = r.bool()
	n := r.uvarint()
	// Every op takes at least 8 bytes: a count beyond that is a lie, not
	// an allocation to make.
	if r.err == nil && n > uint64(len(r.b))/8 {
		return fmt.Errorf("compact entry: %d ops in %d bytes", n, len(r.b))
	}
	cmd.Ops = make([]Op, n)
	for i := range cmd.Ops {
		op := &cmd.Ops[i]
		op.Kind = opKind(r.bytes())
		op.ID = r.string()
		op.ExpectVersion = r.uvarint()
		op.NodeID = r.string()
		op.Desired = api.TaskState(r.int())
		op.Message = r.string()
		if r.bool() {
			op.Report = r.report()
		}
		if r.err != nil {
			return r.err
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Errorf("compact entry: %d bytes after the ops", len(r.b)))
	}
	return r.err
}

func (r *compactReader) report() *api.TaskReport {
	rep := &api.TaskReport{TaskID: r.string()}
	s := &rep.Status
	s.State = api.TaskState(r.int())
	s.Timestamp = r.time()
	s.AgentTimestamp = r.time()
	s.Message = r.string()
	s.Err = r.string()
	if r.bool() {
		code := r.int()
		s.ExitCode = &code
	}
	s.RuntimeID = r.string()
	s.Health = r.string()
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return rep
	}
	n--
	// An endpoint takes at least 3 bytes.
	if n > uint64(len(r.b))/3 {
		r.fail(fmt.Errorf("compact entry: %d endpoints in %d bytes", n, len(r.b)))
		return rep
	}
	rep.Endpoints = make([]api.TaskEndpoint, n)
	for i := range rep.Endpoints {
		e := &rep.Endpoints[i]
		port := r.uvarint()
		if port > math.MaxUint32 {
			r.fail(fmt.Errorf("compact entry: port %d out of range", port))
		}
		e.TargetPort = uint32(port)
		e.Protocol = r.string()
		e.Addr = r.string()
	}
	return rep
}
