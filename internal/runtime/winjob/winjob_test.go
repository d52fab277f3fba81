package winjob_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/runtime/winjob"
)

// fakeSys records the calls in order; fail names the call that fails.
type fakeSys struct {
	calls []string
	fail  string
}

type fakeJob struct{ s *fakeSys }

func (s *fakeSys) do(call string) error {
	s.calls = append(s.calls, call)
	if call == s.fail {
		return errors.New(call + " failed")
	}
	return nil
}

func (s *fakeSys) NewJob() (winjob.Job, error) {
	if err := s.do("new job"); err != nil {
		return nil, err
	}
	return fakeJob{s}, nil
}
func (s *fakeSys) Kill(pid int) error   { return s.do(fmt.Sprint("kill ", pid)) }
func (s *fakeSys) Resume(pid int) error { return s.do(fmt.Sprint("resume ", pid)) }
func (s *fakeSys) Interrupt(pid int) error {
	return s.do(fmt.Sprint("interrupt ", pid))
}

func (j fakeJob) Assign(pid int) error        { return j.s.do(fmt.Sprint("assign ", pid)) }
func (j fakeJob) Terminate(code uint32) error { return j.s.do(fmt.Sprint("terminate ", code)) }
func (j fakeJob) Close() error                { return j.s.do("close job") }

func (s *fakeSys) start() (int, error) {
	if err := s.do("start suspended"); err != nil {
		return 0, err
	}
	return 42, nil
}

func TestLifecycleOrder(t *testing.T) {
	for _, c := range []struct {
		fail string
		want string // the calls, joined by "; "
	}{
		// The process joins its job before it runs a single instruction,
		// and stopping ends the tree, then drops the job.
		{"", "new job; start suspended; assign 42; resume 42; terminate 1; close job"},
		{"new job", "new job"},
		{"start suspended", "new job; start suspended; close job"},
		// A process that could not join is killed before it ever ran.
		{"assign 42", "new job; start suspended; assign 42; kill 42; close job"},
		{"resume 42", "new job; start suspended; assign 42; resume 42; terminate 1; close job"},
		// A failed terminate still closes the job (KILL_ON_JOB_CLOSE).
		{"terminate 1", "new job; start suspended; assign 42; resume 42; terminate 1; close job"},
	} {
		s := &fakeSys{fail: c.fail}
		tree, err := winjob.Start(s, s.start)
		startFailed := c.fail != "" && c.fail != "terminate 1"
		if startFailed {
			if err == nil || !strings.Contains(err.Error(), c.fail+" failed") {
				t.Errorf("fail %q: Start error %v, want it named", c.fail, err)
			}
		} else {
			if err != nil || tree.PID() != 42 {
				t.Fatalf("fail %q: Start: %v", c.fail, err)
			}
			err := tree.Stop()
			if (c.fail == "") != (err == nil) {
				t.Errorf("fail %q: Stop: %v", c.fail, err)
			}
			if err := tree.Stop(); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		}
		if got := strings.Join(s.calls, "; "); got != c.want {
			t.Errorf("fail %q: calls\n  %s\nwant\n  %s", c.fail, got, c.want)
		}
	}
}

// The stop signal goes to the task's group until the tree is stopped,
// and never after.
func TestInterrupt(t *testing.T) {
	s := &fakeSys{}
	tree, err := winjob.Start(s, s.start)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Interrupt(); err != nil {
		t.Fatal(err)
	}
	s.fail = "interrupt 42"
	if err := tree.Interrupt(); err == nil || !strings.Contains(err.Error(), "console break to process group 42") {
		t.Errorf("failed Interrupt: %v", err)
	}
	if err := tree.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := tree.Interrupt(); !errors.Is(err, winjob.ErrStopped) {
		t.Errorf("Interrupt after Stop: %v", err)
	}
	want := "new job; start suspended; assign 42; resume 42; interrupt 42; interrupt 42; terminate 1; close job"
	if got := strings.Join(s.calls, "; "); got != want {
		t.Errorf("calls\n  %s\nwant\n  %s", got, want)
	}
}
