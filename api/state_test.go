package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// allStates are the task states in the order a task moves through them.
var allStates = []struct {
	s    api.TaskState
	name string
	num  int
}{
	{api.TaskStateNew, "new", 0},
	{api.TaskStatePending, "pending", 64},
	{api.TaskStateAssigned, "assigned", 192},
	{api.TaskStateAccepted, "accepted", 256},
	{api.TaskStatePreparing, "preparing", 320},
	{api.TaskStateReady, "ready", 384},
	{api.TaskStateStarting, "starting", 448},
	{api.TaskStateRunning, "running", 512},
	{api.TaskStateComplete, "complete", 576},
	{api.TaskStateShutdown, "shutdown", 640},
	{api.TaskStateFailed, "failed", 704},
	{api.TaskStateRejected, "rejected", 768},
	{api.TaskStateRemove, "remove", 800},
	{api.TaskStateOrphaned, "orphaned", 832},
}

func TestTaskStateJSONRoundTrip(t *testing.T) {
	for _, tc := range allStates {
		b, err := json.Marshal(tc.s)
		if err != nil || string(b) != `"`+tc.name+`"` {
			t.Errorf("Marshal(%d) = %s, %v; want %q", tc.num, b, err, tc.name)
		}
		var byName, byNum api.TaskState = -1, -1
		if err := json.Unmarshal(b, &byName); err != nil || byName != tc.s {
			t.Errorf("Unmarshal(%s) = %v, %v", b, byName, err)
		}
		num, _ := json.Marshal(tc.num)
		if err := json.Unmarshal(num, &byNum); err != nil || byNum != tc.s {
			t.Errorf("Unmarshal(%s) = %v, %v", num, byNum, err)
		}
		if tc.s.String() != tc.name {
			t.Errorf("String(%d) = %q", tc.num, tc.s.String())
		}
		if p, err := api.ParseTaskState(tc.name); err != nil || p != tc.s {
			t.Errorf("ParseTaskState(%q) = %v, %v", tc.name, p, err)
		}
	}
	// Inside a status.
	st := api.TaskStatus{State: api.TaskStateRunning, Message: "started"}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"State":"running"`) {
		t.Errorf("status JSON %s", b)
	}
	var back api.TaskStatus
	if err := json.Unmarshal(b, &back); err != nil || back.State != api.TaskStateRunning {
		t.Errorf("status round trip: %+v %v", back, err)
	}
}

func TestTaskStateJSONRejectsUnknown(t *testing.T) {
	for _, in := range []string{`"Running"`, `"bogus"`, `""`, `65`, `-1`, `1000`, `1.5`, `true`, `{}`, `[512]`} {
		s := api.TaskStatePending
		if err := json.Unmarshal([]byte(in), &s); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", in, s)
		}
		if s != api.TaskStatePending {
			t.Errorf("Unmarshal(%s) changed the state to %v on error", in, s)
		}
	}
	if _, err := api.ParseTaskState("RUNNING"); err == nil {
		t.Error("ParseTaskState is case-sensitive: RUNNING should be unknown")
	}
	if got := api.TaskState(65).String(); got != "state(65)" {
		t.Errorf("String of an unknown state = %q", got)
	}
	// null, as for every JSON type, leaves the value alone.
	var ts api.TaskStatus
	ts.State = api.TaskStateFailed
	if err := json.Unmarshal([]byte(`{"State":null}`), &ts); err != nil || ts.State != api.TaskStateFailed {
		t.Errorf("null state: %v, %v", ts.State, err)
	}
}

func TestTaskStateOrderAndTerminal(t *testing.T) {
	if !slices.IsSortedFunc(allStates, func(a, b struct {
		s    api.TaskState
		name string
		num  int
	}) int {
		return int(a.s) - int(b.s)
	}) {
		t.Fatal("states are not in increasing order")
	}
	for i, tc := range allStates {
		if i > 0 && !(allStates[i-1].s < tc.s) {
			t.Errorf("%s is not after %s", tc.name, allStates[i-1].name)
		}
		if int(tc.s) != tc.num {
			t.Errorf("%s = %d, want %d", tc.name, int(tc.s), tc.num)
		}
		wantTerminal := tc.s > api.TaskStateRunning
		if tc.s.Terminal() != wantTerminal {
			t.Errorf("%s.Terminal() = %v", tc.name, tc.s.Terminal())
		}
	}
	for _, s := range []api.TaskState{api.TaskStateComplete, api.TaskStateShutdown, api.TaskStateFailed, api.TaskStateRejected, api.TaskStateRemove, api.TaskStateOrphaned} {
		if !s.Terminal() {
			t.Errorf("%s should be terminal", s)
		}
	}
	for _, s := range []api.TaskState{api.TaskStateNew, api.TaskStatePending, api.TaskStateAssigned, api.TaskStateRunning} {
		if s.Terminal() {
			t.Errorf("%s should not be terminal", s)
		}
	}
}

func TestTaskLiveAndNames(t *testing.T) {
	tk := &api.Task{ID: "tid", ServiceName: "web", Slot: 3, NodeID: "n1", DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStateRunning}}
	if !tk.Live() || tk.Name() != "web.3" || tk.FullName() != "web.3.tid" {
		t.Errorf("live %v name %q full %q", tk.Live(), tk.Name(), tk.FullName())
	}
	tk.Slot = 0
	if tk.Name() != "web.n1" {
		t.Errorf("global name %q", tk.Name())
	}
	tk.DesiredState = api.TaskStateShutdown
	if tk.Live() {
		t.Error("a task desired shutdown is live")
	}
	tk.DesiredState, tk.Status.State = api.TaskStateRunning, api.TaskStateFailed
	if tk.Live() {
		t.Error("a failed task is live")
	}
}

// oldUnmarshalState is TaskState.UnmarshalJSON before its table of names.
func oldUnmarshalState(s *api.TaskState, b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		v, err := api.ParseTaskState(name)
		if err != nil {
			return err
		}
		*s = v
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if api.TaskState(n).String() == fmt.Sprintf("state(%d)", n) {
		return fmt.Errorf("unknown task state %d", n)
	}
	*s = api.TaskState(n)
	return nil
}

// TestTaskStateJSONAsBefore: the table of names writes json.Marshal's
// bytes of every state's name, and reads what the decoding through a
// string read, escapes and numbers included.
func TestTaskStateJSONAsBefore(t *testing.T) {
	inputs := []string{`null`, `"\u006eew"`, `"New"`, `"new "`, `""`, `"state(3)"`, `1`, `-1`, `99`, `"r\u0075nning"`, `"\ufffd"`, "\"\xff\""}
	// Every named state (they are multiples of 32 up to 832), the
	// numbers around them, and some below and above.
	var states []api.TaskState
	for s := api.TaskState(-2); s <= 900; s++ {
		if s < 40 || s%32 == 0 || s%32 == 1 || s%32 == 31 {
			states = append(states, s)
		}
	}
	for _, s := range states {
		got, err := s.MarshalJSON()
		want, _ := json.Marshal(s.String())
		if err != nil || string(got) != string(want) {
			t.Errorf("state %d: MarshalJSON %s (%v), json.Marshal of its name %s", s, got, err, want)
		}
		inputs = append(inputs, string(want), fmt.Sprint(int(s)))
	}
	for _, in := range inputs {
		got, want := api.TaskState(7), api.TaskState(7)
		gerr := got.UnmarshalJSON([]byte(in))
		werr := oldUnmarshalState(&want, []byte(in))
		if (gerr == nil) != (werr == nil) || got != want {
			t.Errorf("%s: read %v (%v), before %v (%v)", in, got, gerr, want, werr)
		}
	}
}
