package winproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/winjob"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeJobs stands for Windows' job objects on Linux: a job remembers the
// processes assigned to it and Terminate kills them, as TerminateJobObject
// ends a tree. Nothing starts suspended here, so Resume only records.
type fakeJobs struct {
	mu    sync.Mutex
	calls []string
	fail  string // the call that fails
}

type fakeJob struct {
	s    *fakeJobs
	pids []int
}

func (s *fakeJobs) do(call string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	if strings.HasPrefix(call, s.fail) && s.fail != "" {
		return errors.New(call + " failed")
	}
	return nil
}

func (s *fakeJobs) NewJob() (winjob.Job, error) { return &fakeJob{s: s}, s.do("new job") }
func (s *fakeJobs) Kill(pid int) error          { s.do("kill"); return kill(pid) }
func (s *fakeJobs) Resume(pid int) error        { return s.do("resume") }

// Interrupt stands for the console break with SIGTERM (Linux has no
// console groups; the task is the group's only process here).
func (s *fakeJobs) Interrupt(pid int) error {
	if err := s.do("interrupt"); err != nil {
		return err
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(syscall.SIGTERM)
}

func (j *fakeJob) Assign(pid int) error {
	if err := j.s.do("assign"); err != nil {
		return err
	}
	j.pids = append(j.pids, pid)
	return nil
}

func (j *fakeJob) Terminate(uint32) error {
	j.s.do("terminate")
	for _, pid := range j.pids {
		_ = kill(pid)
	}
	return nil
}

func (j *fakeJob) Close() error { return j.s.do("close job") }

func (s *fakeJobs) seen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.calls, "; ")
}

func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func newRuntime(t *testing.T, jobs *fakeJobs, root string) *Runtime {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	r, err := Open(Options{Root: root, NodeAddr: "10.0.0.7", Sys: jobs, Suspend: func(*exec.Cmd) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func shSpec(id, script string) runtime.TaskSpec {
	return runtime.TaskSpec{TaskID: id, Name: "web.1." + id, ServiceName: "web", Slot: 1,
		Container: api.ContainerSpec{Command: []string{"sh", "-c", script}, Env: []string{"SHOAL_TASK_ID=spoofed", "GREETING=hi"}}}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestTaskRunsInItsJobAndExits(t *testing.T) {
	jobs := &fakeJobs{}
	r := newRuntime(t, jobs, t.TempDir())
	h, err := r.Start(ctxT(t), shSpec("t1", `echo "$GREETING $SHOAL_TASK_ID $SHOAL_NODE_ADDR $PWD"; echo oops >&2; exit 3`))
	if err != nil || !h.Running || !strings.HasPrefix(h.RuntimeID, "pid ") {
		t.Fatalf("Start: %+v, %v", h, err)
	}
	st, err := r.Wait(ctxT(t), "t1")
	if err != nil || st.ExitCode != 3 || st.Message != "exited with code 3" {
		t.Fatalf("Wait: %+v, %v; want code 3", st, err)
	}
	// The process joined its job before it was resumed; once it ended,
	// the rest of its tree was ended and the job dropped.
	if got, want := jobs.seen(), "new job; assign; resume; terminate; close job"; got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	stdout, stderr, err := r.LogPaths("t1")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(stdout)
	work := filepath.Join(r.root, "t1", workDir)
	if want := "hi t1 10.0.0.7 " + work + "\n"; string(out) != want {
		t.Errorf("stdout %q, want %q (the spec cannot override SHOAL_TASK_ID)", out, want)
	}
	if b, _ := os.ReadFile(stderr); string(b) != "oops\n" {
		t.Errorf("stderr %q", b)
	}
	if l, err := r.List(ctxT(t)); err != nil || len(l) != 1 || l[0].TaskID != "t1" || l[0].Running {
		t.Errorf("List: %+v, %v; want t1 ended", l, err)
	}
	if err := r.Remove(ctxT(t), "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.root, "t1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("folder after Remove: %v", err)
	}
	if _, err := r.Wait(ctxT(t), "t1"); !errors.Is(err, runtime.ErrUnknownTask) {
		t.Errorf("Wait after Remove: %v", err)
	}
}

func TestStopTerminatesTheJob(t *testing.T) {
	jobs := &fakeJobs{}
	r := newRuntime(t, jobs, t.TempDir())
	if _, err := r.Start(ctxT(t), shSpec("t1", "exec sleep 60")); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctxT(t), "t1"); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Remove of a running task: %v", err)
	}
	if _, err := r.Start(ctxT(t), shSpec("t1", "true")); err == nil {
		t.Error("a second Start of the same ID succeeded")
	}
	if err := r.Stop(ctxT(t), "t1", time.Minute); err != nil {
		t.Fatal(err)
	}
	st, err := r.Wait(ctxT(t), "t1")
	if err != nil || !strings.Contains(st.Message, "stopped") {
		t.Fatalf("Wait after Stop: %+v, %v", st, err)
	}
	if err := r.Stop(ctxT(t), "t1", 0); err != nil {
		t.Errorf("Stop of a stopped task: %v", err)
	}
	if err := r.Stop(ctxT(t), "nope", 0); !errors.Is(err, runtime.ErrUnknownTask) {
		t.Errorf("Stop of an unknown task: %v", err)
	}
}

func TestUnsupportedTasksRejected(t *testing.T) {
	r := newRuntime(t, &fakeJobs{}, t.TempDir())
	for name, edit := range map[string]func(*runtime.TaskSpec){
		"networks":     func(s *runtime.TaskSpec) { s.Networks = []api.NetworkAttachment{{}} },
		"sandbox":      func(s *runtime.TaskSpec) { s.Sandbox = &runtime.Sandbox{} },
		"ports":        func(s *runtime.TaskSpec) { s.Ports = []api.PortConfig{{TargetPort: 80}} },
		"posix target": func(s *runtime.TaskSpec) { s.Files = []runtime.File{{Target: "/etc/app.yml"}} },
		"file and folder": func(s *runtime.TaskSpec) {
			s.Files = []runtime.File{{Target: `C:\app\x`}, {Target: `C:\app\x\y`}}
		},
		"user":    func(s *runtime.TaskSpec) { s.Container.User = "bob" },
		"program": func(s *runtime.TaskSpec) { s.Container.Command = []string{"no-such-program-shoal"} },
		"empty":   func(s *runtime.TaskSpec) { s.Container.Command = nil },
		"id":      func(s *runtime.TaskSpec) { s.TaskID = `..\x` },
	} {
		s := shSpec("t-"+name, "true")
		edit(&s)
		if _, err := r.Start(ctxT(t), s); !errors.Is(err, runtime.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
	if l, err := r.List(ctxT(t)); err != nil || len(l) != 0 {
		t.Errorf("left %+v, %v; want nothing", l, err)
	}
}

func TestFailedAssignKillsTheProcess(t *testing.T) {
	jobs := &fakeJobs{fail: "assign"}
	r := newRuntime(t, jobs, t.TempDir())
	if _, err := r.Start(ctxT(t), shSpec("t1", "exec sleep 60")); err == nil {
		t.Fatal("Start succeeded with a failed assign")
	}
	if got, want := jobs.seen(), "new job; assign; kill; close job"; got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(r.root, "t1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("folder after a failed start: %v", err)
	}
}

// A task of before an agent restart ended with its job: it is listed as
// ended, for the agent to remove.
func TestLeftOverTaskAfterRestart(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "old", workDir), 0o700); err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t, &fakeJobs{}, root)
	l, err := r.List(ctxT(t))
	if err != nil || len(l) != 1 || l[0].TaskID != "old" || l[0].Running {
		t.Fatalf("List: %+v, %v; want old, ended", l, err)
	}
	if st, err := r.Wait(ctxT(t), "old"); err != nil || st != endedWithAgent {
		t.Errorf("Wait: %+v, %v", st, err)
	}
	if err := r.Stop(ctxT(t), "old", 0); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := r.Remove(ctxT(t), "old"); err != nil {
		t.Fatal(err)
	}
	if l, err := r.List(ctxT(t)); err != nil || len(l) != 0 {
		t.Errorf("List after Remove: %+v, %v", l, err)
	}
}

func TestCloseEndsTasks(t *testing.T) {
	jobs := &fakeJobs{}
	r := newRuntime(t, jobs, t.TempDir())
	for i := range 2 {
		if _, err := r.Start(ctxT(t), shSpec(fmt.Sprint("t", i), "exec sleep 60")); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(ctxT(t), shSpec("t9", "true")); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if n := strings.Count(jobs.seen(), "terminate"); n < 2 {
		t.Errorf("calls %q: want both jobs terminated", jobs.seen())
	}
}

// Off Windows there are no job objects unless a test brings its own.
func TestOpenWithoutJobObjects(t *testing.T) {
	if _, err := Open(Options{Root: t.TempDir()}); err == nil {
		t.Skip("this system has job objects")
	}
}
