package process

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

func TestExecRunsInTheTasksContext(t *testing.T) {
	r, _ := newRuntime(t)
	s := spec("sleep", "300")
	s.Container.Env = []string{"GREETING=hello"}
	s.Ports = []api.PortConfig{{TargetPort: 80}}
	h := start(t, r, s)
	code, out, err := r.Exec(testCtx(t), h.TaskID, []string{"/bin/sh", "-c", `echo "$GREETING $PORT $(pwd)"; exit 7`})
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 3 || fields[0] != "hello" || fields[1] == "" || !strings.HasSuffix(fields[2], "/"+h.TaskID+"/work") {
		t.Errorf("exec output %q: want the task's env, PORT and work folder", out)
	}
}

func TestExecKeepsOnlyTheStartOfLongOutput(t *testing.T) {
	r, _ := newRuntime(t)
	h := start(t, r, spec("sleep", "300"))
	_, out, err := r.Exec(testCtx(t), h.TaskID, []string{"/bin/sh", "-c", "head -c 100000 /dev/zero"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != maxExecOutput {
		t.Fatalf("kept %d bytes, want %d", len(out), maxExecOutput)
	}
}

func TestExecTimeoutKillsTheCommand(t *testing.T) {
	r, _ := newRuntime(t)
	h := start(t, r, spec("sleep", "300"))
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	_, _, err := r.Exec(ctx, h.TaskID, []string{"sleep", "300"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want DeadlineExceeded", err)
	}
}

func TestExecInAStoppedTaskFails(t *testing.T) {
	r, _ := newRuntime(t)
	h := start(t, r, spec("true"))
	wait(t, r, h.TaskID)
	if _, _, err := r.Exec(testCtx(t), h.TaskID, []string{"true"}); err == nil {
		t.Fatal("exec in an exited task succeeded")
	}
}
