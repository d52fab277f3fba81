package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files (progress, node ls and inspect)")

// t0 is when every scripted progress starts.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus sec seconds.
func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// pTask is a scripted task.
type pTask struct {
	slot    uint64
	node    string
	version uint64
	state   api.TaskState
	desired api.TaskState
	created float64 // seconds after t0
	err     string
}

func (p pTask) task(svc string) *api.Task {
	desired := p.desired
	if desired == 0 {
		desired = api.TaskStateRunning
	}
	t := &api.Task{
		ID:           fmt.Sprintf("task-%s-%d-%d-%g", svc, p.slot, p.version, p.created),
		ServiceName:  svc,
		Slot:         p.slot,
		NodeID:       p.node,
		SpecVersion:  p.version,
		DesiredState: desired,
		Status:       api.TaskStatus{State: p.state, Err: p.err, Timestamp: at(p.created)},
	}
	t.CreatedAt = at(p.created)
	return t
}

// pStep is one scripted moment: a snapshot (status and tasks at a time),
// or a tick of the countdown timer when tick is set.
type pStep struct {
	now         float64
	tick        bool
	specVersion uint64
	replicas    uint64 // replicated services; 0 keeps the last value
	state       string
	msg         string
	tasks       []pTask
}

type progressScript struct {
	name    string
	kind    followKind
	global  bool
	monitor time.Duration // update config's monitor (0: default 5s)
	nodes   []*api.Node
	steps   []pStep
}

// run feeds the script to a progress view writing plain lines, and returns
// the output followed by how following ended.
func (s progressScript) run(t *testing.T) string {
	t.Helper()
	var out bytes.Buffer
	v := newProgressView(s.kind, newPlainRows(&out))
	svc := &api.Service{ID: "svc-" + s.name, Spec: api.ServiceSpec{Name: s.name}}
	if s.global {
		svc.Spec.Mode.Global = &api.GlobalService{}
	} else {
		svc.Spec.Mode.Replicated = &api.ReplicatedService{}
	}
	if s.monitor > 0 {
		svc.Spec.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Monitor: api.Duration(s.monitor)}
		svc.Spec.RollbackConfig = &api.UpdateConfig{Parallelism: 1, Monitor: api.Duration(s.monitor)}
	}
	end := "still following"
	var last pStep
	for i, st := range s.steps {
		if st.tick {
			// The timer fires: following re-reads what has not changed.
			if d, ok := v.nextTick(at(st.now - 0.001)); !ok || d > time.Second {
				t.Fatalf("step %d: tick at %gs, but nextTick says %v, %v", i, st.now, d, ok)
			}
			now := st.now
			st, st.now = last, now
		}
		last = st
		if st.replicas > 0 {
			svc.Spec.Mode.Replicated.Replicas = st.replicas
		}
		if st.specVersion > 0 {
			svc.SpecVersion = st.specVersion
		}
		cur := *svc
		if st.state != "" {
			cur.UpdateStatus = &api.UpdateStatus{State: st.state, Message: st.msg}
		}
		var tasks []*api.Task
		for _, pt := range st.tasks {
			tasks = append(tasks, pt.task(s.name))
		}
		done, err := v.step(progressSnapshot{Service: &cur, Tasks: tasks, Nodes: s.nodes, Now: at(st.now)})
		if done {
			end = "done"
			if err != nil {
				end = "error: " + err.Error()
			}
			if i != len(s.steps)-1 {
				t.Fatalf("following ended at step %d of %d (%s)", i, len(s.steps), end)
			}
			break
		}
	}
	return out.String() + "-- " + end + "\n"
}

func node(id string, labels map[string]string) *api.Node {
	n := &api.Node{ID: id}
	n.Status.State = api.NodeStateReady
	n.Spec.Availability = api.AvailabilityActive
	n.Spec.Labels = labels
	n.Description.Runtimes = []string{api.RuntimeProcess}
	return n
}

const (
	sNew      = api.TaskStateNew
	sPending  = api.TaskStatePending
	sAssigned = api.TaskStateAssigned
	sStarting = api.TaskStateStarting
	sRunning  = api.TaskStateRunning
	sFailed   = api.TaskStateFailed
	sShutdown = api.TaskStateShutdown
)

var progressScripts = []progressScript{
	{
		name: "create",
		kind: followConverge,
		steps: []pStep{
			{now: 0, specVersion: 1, replicas: 2},
			{now: 0.1, tasks: []pTask{{slot: 1, version: 1, state: sNew}, {slot: 2, version: 1, state: sNew}}},
			{now: 0.2, tasks: []pTask{{slot: 1, version: 1, state: sPending}, {slot: 2, version: 1, state: sAssigned}}},
			{now: 0.3, tasks: []pTask{{slot: 1, version: 1, state: sRunning}, {slot: 2, version: 1, state: sStarting}}},
			{now: 0.4, tasks: []pTask{{slot: 1, version: 1, state: sRunning}, {slot: 2, version: 1, state: sRunning}}},
			{now: 1.4, tick: true}, {now: 2.4, tick: true}, {now: 3.4, tick: true}, {now: 4.4, tick: true},
			{now: 5.4, tick: true},
		},
	},
	{
		// A crash-looping service: each task runs for a moment, then
		// fails. The verify phase sees it and keeps waiting, as docker's;
		// it never says the service converged.
		name: "crash-loop",
		kind: followConverge,
		steps: []pStep{
			{now: 0, specVersion: 1, replicas: 1, tasks: []pTask{{slot: 1, version: 1, state: sStarting}}},
			{now: 0.2, tasks: []pTask{{slot: 1, version: 1, state: sRunning}}},
			{now: 1.2, tick: true},
			{now: 1.5, tasks: []pTask{
				{slot: 1, version: 1, state: sFailed, desired: sShutdown, err: "task: non-zero exit (1)"}}},
			{now: 1.6, tasks: []pTask{
				{slot: 1, version: 1, state: sFailed, desired: sShutdown, err: "task: non-zero exit (1)"},
				{slot: 1, version: 1, state: sRunning, created: 1.6}}},
			// Between two reads the task failed and was replaced: the
			// replacement runs, but the countdown starts over.
			{now: 4, tasks: []pTask{
				{slot: 1, version: 1, state: sFailed, desired: sShutdown, err: "task: non-zero exit (1)"},
				{slot: 1, version: 1, state: sFailed, desired: sShutdown, created: 1.6, err: "task: non-zero exit (1)"},
				{slot: 1, version: 1, state: sRunning, created: 3.9}}},
			{now: 5, tick: true},
			{now: 6, tasks: []pTask{
				{slot: 1, version: 1, state: sFailed, desired: sShutdown, created: 3.9, err: "task: non-zero exit (1)"}}},
		},
	},
	{
		// A rolling update of two tasks, one at a time, watched for 3s
		// after each: the countdown shows after the last one.
		name:    "update",
		kind:    followUpdate,
		monitor: 3 * time.Second,
		steps: []pStep{
			{now: 0, specVersion: 2, replicas: 2, tasks: []pTask{
				{slot: 1, version: 1, state: sRunning}, {slot: 2, version: 1, state: sRunning}}},
			{now: 0.5, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 1, state: sShutdown, desired: sShutdown}, {slot: 1, version: 2, state: sNew, created: 0.5},
				{slot: 2, version: 1, state: sRunning}}},
			{now: 1, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 1, state: sShutdown, desired: sShutdown}, {slot: 1, version: 2, state: sRunning, created: 0.5},
				{slot: 2, version: 1, state: sRunning}}},
			{now: 4, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 2, state: sRunning, created: 0.5},
				{slot: 2, version: 1, state: sShutdown, desired: sShutdown}, {slot: 2, version: 2, state: sStarting, created: 4}}},
			{now: 4.5, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 2, state: sRunning, created: 0.5},
				{slot: 2, version: 1, state: sShutdown, desired: sShutdown}, {slot: 2, version: 2, state: sRunning, created: 4}}},
			{now: 5.5, tick: true},
			{now: 6.5, tick: true},
			{now: 7.5, state: api.UpdateStateCompleted, tasks: []pTask{
				{slot: 1, version: 2, state: sRunning, created: 0.5}, {slot: 2, version: 2, state: sRunning, created: 4}}},
		},
	},
	{
		// The new task fails: the update pauses and the command fails with
		// the updater's message.
		name: "update-paused",
		kind: followUpdate,
		steps: []pStep{
			{now: 0, specVersion: 2, replicas: 1, tasks: []pTask{{slot: 1, version: 1, state: sRunning}}},
			{now: 1, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 1, state: sShutdown, desired: sShutdown}, {slot: 1, version: 2, state: sStarting, created: 1}}},
			{now: 2, state: api.UpdateStatePaused, msg: "update paused due to failure or early termination of task task-2", tasks: []pTask{
				{slot: 1, version: 1, state: sShutdown, desired: sShutdown},
				{slot: 1, version: 2, state: sFailed, desired: sShutdown, created: 1, err: "task: non-zero exit (1)"}}},
		},
	},
	{
		// The new task fails and failure_action=rollback: the rollback is
		// followed to its end, and the command fails with the reason.
		name: "update-rolled-back",
		kind: followUpdate,
		steps: []pStep{
			{now: 0, specVersion: 2, replicas: 1, tasks: []pTask{{slot: 1, version: 1, state: sRunning}}},
			{now: 1, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 1, state: sShutdown, desired: sShutdown}, {slot: 1, version: 2, state: sRunning, created: 1}}},
			{now: 2, specVersion: 3, state: api.UpdateStateRollbackStarted, msg: "update rolled back due to failure or early termination of task task-2", tasks: []pTask{
				{slot: 1, version: 2, state: sFailed, desired: sShutdown, created: 1, err: "task: non-zero exit (1)"},
				{slot: 1, version: 3, state: sPending, created: 2}}},
			{now: 3, state: api.UpdateStateRollbackStarted, msg: "update rolled back due to failure or early termination of task task-2", tasks: []pTask{
				{slot: 1, version: 3, state: sRunning, created: 2}}},
			{now: 8, state: api.UpdateStateRollbackCompleted, msg: "rollback completed", tasks: []pTask{
				{slot: 1, version: 3, state: sRunning, created: 2}}},
		},
	},
	{
		// service rollback: rollback_completed is success.
		name:    "rollback",
		kind:    followRollback,
		monitor: 2 * time.Second,
		steps: []pStep{
			{now: 0, specVersion: 3, replicas: 1, state: api.UpdateStateRollbackStarted, msg: "manually requested rollback", tasks: []pTask{
				{slot: 1, version: 2, state: sRunning}}},
			{now: 1, state: api.UpdateStateRollbackStarted, msg: "manually requested rollback", tasks: []pTask{
				{slot: 1, version: 2, state: sShutdown, desired: sShutdown}, {slot: 1, version: 3, state: sRunning, created: 1}}},
			{now: 2, tick: true},
			{now: 3.2, state: api.UpdateStateRollbackCompleted, msg: "rollback completed", tasks: []pTask{
				{slot: 1, version: 3, state: sRunning, created: 1}}},
		},
	},
	{
		// A task fails while the update watches it: the countdown starts
		// over once its replacement runs.
		name: "failure-while-verifying",
		kind: followUpdate,
		steps: []pStep{
			{now: 0, specVersion: 2, replicas: 1, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 2, state: sRunning, created: 0}}},
			{now: 2, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 2, state: sFailed, created: 0, err: "task: non-zero exit (2)"}}},
			{now: 3, state: api.UpdateStateUpdating, tasks: []pTask{
				{slot: 1, version: 2, state: sFailed, desired: sShutdown, created: 0, err: "task: non-zero exit (2)"},
				{slot: 1, version: 2, state: sRunning, created: 3}}},
			{now: 8, state: api.UpdateStateCompleted, tasks: []pTask{
				{slot: 1, version: 2, state: sRunning, created: 3}}},
		},
	},
	{
		// Scaling a service an earlier update rolled back: that old status
		// does not make this a rollback.
		name: "scale-after-rollback",
		kind: followConverge,
		steps: []pStep{
			{now: 0, specVersion: 3, replicas: 2, state: api.UpdateStateRollbackCompleted, msg: "rollback completed", tasks: []pTask{
				{slot: 1, version: 3, state: sRunning}, {slot: 2, version: 3, state: sPending, created: 0}}},
			{now: 1, state: api.UpdateStateRollbackCompleted, msg: "rollback completed", tasks: []pTask{
				{slot: 1, version: 3, state: sRunning}, {slot: 2, version: 3, state: sRunning, created: 0}}},
			{now: 2, tick: true}, {now: 3, tick: true}, {now: 4, tick: true}, {now: 5, tick: true}, {now: 6, tick: true},
		},
	},
	{
		// A global service: a row per eligible node (n3 is drained and n4
		// down); a pending task shows its error.
		name:   "global",
		kind:   followConverge,
		global: true,
		nodes: []*api.Node{
			node("n1aaaaaaaaaaaaaaaaaaaaaaaa", nil),
			node("n2bbbbbbbbbbbbbbbbbbbbbbbb", nil),
			func() *api.Node {
				n := node("n3cccccccccccccccccccccccc", nil)
				n.Spec.Availability = api.AvailabilityDrain
				return n
			}(),
			func() *api.Node {
				n := node("n4dddddddddddddddddddddddd", nil)
				n.Status.State = api.NodeStateDown
				return n
			}(),
		},
		steps: []pStep{
			{now: 0, specVersion: 1, tasks: []pTask{
				{node: "n1aaaaaaaaaaaaaaaaaaaaaaaa", version: 1, state: sAssigned},
				{node: "n2bbbbbbbbbbbbbbbbbbbbbbbb", version: 1, state: sPending, err: "no suitable node (insufficient memory on 1 node)"}}},
			{now: 1, tasks: []pTask{
				{node: "n1aaaaaaaaaaaaaaaaaaaaaaaa", version: 1, state: sRunning},
				{node: "n2bbbbbbbbbbbbbbbbbbbbbbbb", version: 1, state: sStarting}}},
			{now: 2, tasks: []pTask{
				{node: "n1aaaaaaaaaaaaaaaaaaaaaaaa", version: 1, state: sRunning},
				{node: "n2bbbbbbbbbbbbbbbbbbbbbbbb", version: 1, state: sRunning}}},
			{now: 7, tasks: []pTask{
				{node: "n1aaaaaaaaaaaaaaaaaaaaaaaa", version: 1, state: sRunning},
				{node: "n2bbbbbbbbbbbbbbbbbbbbbbbb", version: 1, state: sRunning}}},
		},
	},
	{
		// More tasks than rows: only the overall line.
		name: "many-replicas",
		kind: followConverge,
		steps: func() []pStep {
			var half, all []pTask
			for i := uint64(1); i <= 25; i++ {
				s := sRunning
				if i%2 == 0 {
					s = sPending
				}
				half = append(half, pTask{slot: i, version: 1, state: s})
				all = append(all, pTask{slot: i, version: 1, state: sRunning})
			}
			return []pStep{{now: 0, specVersion: 1, replicas: 25, tasks: half}, {now: 1, tasks: all}, {now: 6, tasks: all}}
		}(),
	},
}

// TestProgressGolden renders scripted sequences of service and task
// snapshots through the progress view and compares the plain output (what
// a non-terminal stdout gets) with testdata/progress/NAME.golden. Run with
// -update to rewrite the files.
func TestProgressGolden(t *testing.T) {
	for _, s := range progressScripts {
		t.Run(s.name, func(t *testing.T) {
			got := s.run(t)
			checkGolden(t, filepath.Join("testdata", "progress", s.name+".golden"), got)
		})
	}
}

// checkGolden compares got with the golden file at path, or with -update
// writes it.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got:\n%s--- want:\n%s", path, got, want)
	}
}

func TestStateBar(t *testing.T) {
	for _, tc := range []struct {
		state api.TaskState
		want  string
	}{
		{api.TaskStateNew, "[=====>" + strings.Repeat(" ", 45) + "]"},
		{api.TaskStatePending, "[" + strings.Repeat("=", 16) + ">" + strings.Repeat(" ", 34) + "]"},
		{api.TaskStateRunning, "[" + strings.Repeat("=", 50) + ">]"},
	} {
		if got := stateBar(tc.state); got != tc.want {
			t.Errorf("stateBar(%s) = %q, want %q", tc.state, got, tc.want)
		}
	}
	long := strings.Repeat("x", 100) + "\nmore"
	if got := truncError(long); len([]rune(got)) != maxErrorLength || !strings.HasSuffix(got, "…") || strings.Contains(got, "\n") {
		t.Errorf("truncError = %q", got)
	}
}

func TestCountdownTicks(t *testing.T) {
	v := newProgressView(followUpdate, discardRows{})
	v.convergedAt, v.monitor = t0, 5*time.Second
	for _, tc := range []struct {
		now  time.Duration
		want time.Duration
		ok   bool
	}{
		{0, time.Second, true},
		{300 * time.Millisecond, 700 * time.Millisecond, true},
		{3 * time.Second, time.Second, true},
		{4 * time.Second, time.Second, true},
		{4700 * time.Millisecond, 300 * time.Millisecond, true},
		{5 * time.Second, 0, false},
		{6 * time.Second, 0, false},
	} {
		d, ok := v.nextTick(t0.Add(tc.now))
		if d != tc.want || ok != tc.ok {
			t.Errorf("nextTick at %v = %v, %v; want %v, %v", tc.now, d, ok, tc.want, tc.ok)
		}
	}
}

// TestTTYRows draws rows with mpb into a buffer: it must draw the rows'
// texts and stop cleanly (TestMain checks for leaked goroutines).
func TestTTYRows(t *testing.T) {
	var buf bytes.Buffer
	r := newTTYRows(&buf)
	r.set("overall progress", "0 out of 2 tasks")
	r.set("1/2", "")
	r.set("2/2", "")
	r.set("1/2", "running   "+stateBar(api.TaskStateRunning))
	r.drop("2/2")
	r.set("overall progress", "1 out of 1 tasks")
	r.set("verify", "Service converged")
	r.close()
	out := buf.String()
	for _, want := range []string{"overall progress: 1 out of 1 tasks", "1/2: running", "verify: Service converged"} {
		if !strings.Contains(out, want) {
			t.Errorf("mpb output lacks %q:\n%q", want, out)
		}
	}
}
