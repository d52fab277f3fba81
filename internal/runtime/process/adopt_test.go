package process

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// TestAdoptAndWait simulates an agent crash: runtime a starts a task and is
// dropped without stopping it; runtime b over the same root adopts it.
func TestAdoptAndWait(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root")
	a, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := spec("sleep", "1000")
	s.Ports = []api.PortConfig{{TargetPort: 8080}}
	h := start(t, a, s)
	awaitDropped(t, a, s.TaskID)
	pid := pidOf(t, h)

	b, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, b) })
	hs, err := b.List(testCtx(t))
	if err != nil || len(hs) != 1 {
		t.Fatalf("list: %+v %v", hs, err)
	}
	got := hs[0]
	if !got.Running || got.TaskID != s.TaskID || got.RuntimeID != h.RuntimeID ||
		len(got.Endpoints) != 1 || got.Endpoints[0] != h.Endpoints[0] || !got.StartedAt.Equal(h.StartedAt) {
		t.Errorf("adopted %+v, started %+v", got, h)
	}
	// b holds the adopted task's port.
	b.mu.Lock()
	held := len(b.ports)
	b.mu.Unlock()
	if held != 1 {
		t.Errorf("b holds %d ports, want 1", held)
	}

	waited := make(chan error, 1)
	var status struct {
		code int
		msg  string
	}
	go func() {
		st, err := b.Wait(testCtx(t), s.TaskID)
		status.code, status.msg = st.ExitCode, st.Message
		waited <- err
	}()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if status.code != -1 || status.msg != "exited while the agent was not watching (exit code unknown)" {
		t.Errorf("adopted exit %+v", status)
	}
	hs, _ = b.List(testCtx(t))
	if len(hs) != 1 || hs[0].Running {
		t.Errorf("list after exit: %+v", hs)
	}
	// a, still the parent, reaped its child.
	if st := wait(t, a, s.TaskID); st.ExitCode != 137 {
		t.Errorf("parent saw %+v", st)
	}
	a.Close()
}

func TestAdoptAndStop(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root")
	a, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := shSpec(`trap "exit 0" TERM; echo ready; sleep 1000 & wait`)
	h := start(t, a, s)
	awaitDropped(t, a, s.TaskID)
	waitForOutput(t, a, s.TaskID, "ready")

	b, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, b) })
	// Stop finds the task on disk without a List first.
	if err := b.Stop(testCtx(t), s.TaskID, testTimeout); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, b, s.TaskID); st.ExitCode != -1 {
		t.Errorf("adopted exit %+v", st)
	}
	if st := wait(t, a, s.TaskID); st.ExitCode != 0 {
		t.Errorf("parent saw %+v, want the TERM trap's exit 0", st)
	}
	if !gone(pidOf(t, h)) {
		t.Error("process still runs")
	}
	if err := b.Stop(testCtx(t), s.TaskID, 0); err != nil {
		t.Errorf("second stop: %v", err)
	}
	a.Close()
}

// TestAdoptForeignProcess adopts a process that is no child of the test's
// runtimes, through a hand-written task.json, and checks the PID reuse guard.
func TestAdoptForeignProcess(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	startTime, _, err := procStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	write := func(id string, st taskState) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, id), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := writeJSON(filepath.Join(root, id, taskFile), st); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	// Same PID, another start time: a reused PID, not the task's process.
	write("reused", taskState{TaskID: "reused", PID: pid, StartTime: startTime + 1, BootID: bootID(), StopSignal: 9, StartedAt: now})
	// Same PID and start time, but recorded on another boot.
	write("oldboot", taskState{TaskID: "oldboot", PID: pid, StartTime: startTime, BootID: "another-boot", StopSignal: 9, StartedAt: now})
	// A start that never recorded its state.
	if err := os.MkdirAll(filepath.Join(root, "halfstarted"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The real thing.
	write("live", taskState{TaskID: "live", PID: pid, StartTime: startTime, BootID: bootID(), StopSignal: int(syscall.SIGTERM), StartedAt: now})

	r, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, r) })
	hs, err := r.List(testCtx(t))
	if err != nil || len(hs) != 4 {
		t.Fatalf("list %+v %v", hs, err)
	}
	for _, h := range hs {
		if want := h.TaskID == "live"; h.Running != want {
			t.Errorf("task %s: running %v, want %v", h.TaskID, h.Running, want)
		}
	}
	for _, id := range []string{"reused", "oldboot", "halfstarted"} {
		if st := wait(t, r, id); st.ExitCode != -1 {
			t.Errorf("%s: exit %+v", id, st)
		}
		// Stopping a dead task must not signal the PID's process.
		if err := r.Stop(testCtx(t), id, 0); err != nil {
			t.Errorf("%s: stop: %v", id, err)
		}
		if err := r.Remove(testCtx(t), id); err != nil {
			t.Errorf("%s: remove: %v", id, err)
		}
	}
	if gone(pid) {
		t.Fatal("the process was signalled through a stale task")
	}
	if err := r.Stop(testCtx(t), "live", testTimeout); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("adopted process ended with %v, want SIGTERM", err)
	}
	if st := wait(t, r, "live"); st.ExitCode != -1 {
		t.Errorf("live: exit %+v", st)
	}
}

// TestCloseReleasesWatchers checks that Close ends the pidfd watchers of
// adopted processes that still run.
func TestCloseReleasesWatchers(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root")
	a, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := spec("sleep", "1000")
	start(t, a, s)
	awaitDropped(t, a, s.TaskID)
	b, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if hs, err := b.List(testCtx(t)); err != nil || len(hs) != 1 || !hs[0].Running {
		t.Fatalf("list %+v %v", hs, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(testCtx(t), s.TaskID); err == nil {
		t.Error("wait after close succeeded")
	}
	// The task still runs; a stops it.
	if err := a.Stop(testCtx(t), s.TaskID, 0); err != nil {
		t.Fatal(err)
	}
	wait(t, a, s.TaskID)
	a.Close()
}

// An agent killed between starting a task's process and recording it
// leaves a folder without task state and a process nothing records: the
// next agent kills that process (found by its SHOAL_TASK_ID) instead of
// letting it run forever unmanaged. (The Jepsen-style test in test/jepsen
// found such processes after SIGKILLs of managers.)
func TestAdoptKillsUnrecordedStart(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root")
	id := api.NewID()
	// What reserve, launch and spawn leave before the state is written.
	if err := os.MkdirAll(filepath.Join(root, id, workDir), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "1000")
	cmd.Env = []string{taskIDEnv + "=" + id}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited })
	// Another task's process is left alone.
	other := exec.Command("sleep", "1000")
	other.Env = []string{taskIDEnv + "=" + api.NewID()}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })

	r, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, r) })
	hs, err := r.List(testCtx(t))
	if err != nil || len(hs) != 1 || hs[0].TaskID != id || hs[0].Running {
		t.Fatalf("list: %+v %v, want the task, exited", hs, err)
	}
	select {
	case <-waited:
	case <-time.After(testTimeout):
		t.Fatalf("the unrecorded start's process %d still runs", cmd.Process.Pid)
	}
	if gone(other.Process.Pid) {
		t.Error("another task's process was killed")
	}
}
