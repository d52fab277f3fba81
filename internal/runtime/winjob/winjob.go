// Package winjob runs a task's process tree in a Windows job object, so
// the whole tree stops with the task: a program's children are in the job
// from their first instruction, and closing the job (KILL_ON_JOB_CLOSE)
// kills whatever is left, even when the agent dies.
//
// The order of the steps is what matters, so it is here, over the Sys
// seam, and unit-tested on Linux with a fake; the Windows system calls
// are in winjob_windows.go (CreateJobObject, SetInformationJobObject,
// AssignProcessToJobObject, TerminateJobObject, NtResumeProcess). They
// have been cross-compiled and vetted, never run on a Windows host; nor has
// the stop signal, GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT).
package winjob

import (
	"errors"
	"fmt"
	"sync"
)

// Job is one job object.
type Job interface {
	// Assign puts the process into the job.
	Assign(pid int) error
	// Terminate ends every process in the job.
	Terminate(exitCode uint32) error
	// Close releases the job's handle; with KILL_ON_JOB_CLOSE the
	// processes still in it end.
	Close() error
}

// Sys is what the lifecycle needs of the operating system.
type Sys interface {
	// NewJob makes a job whose processes end when it is closed.
	NewJob() (Job, error)
	// Kill ends one process (a suspended one that never joined a job).
	Kill(pid int) error
	// Resume lets a process started suspended run.
	Resume(pid int) error
	// Interrupt sends CTRL_BREAK_EVENT to the console process group
	// that pid leads (started with CREATE_NEW_PROCESS_GROUP): the stop
	// signal, which console programs may handle to exit cleanly.
	Interrupt(pid int) error
}

// Tree is a task's process tree in its job.
type Tree struct {
	sys Sys
	job Job
	pid int

	mu     sync.Mutex
	closed bool
}

// StopExitCode is the exit code Stop gives the processes it ends.
const StopExitCode = 1

// Start makes a job, then has start create the task's process suspended
// and return its PID, puts it in the job and only then resumes it: a
// process that ran before joining could start children outside the job.
// On any failure nothing is left: the process is killed and the job
// closed.
func Start(sys Sys, start func() (pid int, err error)) (*Tree, error) {
	job, err := sys.NewJob()
	if err != nil {
		return nil, fmt.Errorf("job object: %w", err)
	}
	pid, err := start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start: %w", err), closeJob(job))
	}
	if err := job.Assign(pid); err != nil {
		return nil, errors.Join(fmt.Errorf("assign process %d to its job: %w", pid, err), sys.Kill(pid), closeJob(job))
	}
	if err := sys.Resume(pid); err != nil {
		return nil, errors.Join(fmt.Errorf("resume process %d: %w", pid, err), job.Terminate(StopExitCode), closeJob(job))
	}
	return &Tree{sys: sys, job: job, pid: pid}, nil
}

func closeJob(j Job) error {
	if err := j.Close(); err != nil {
		return fmt.Errorf("close job: %w", err)
	}
	return nil
}

// PID is the task's first process.
func (t *Tree) PID() int { return t.pid }

// ErrStopped is Interrupt's error once the tree was stopped.
var ErrStopped = errors.New("process tree stopped")

// Interrupt asks the tree to stop: a console break to the task's process
// group. Only the processes of the group that share the agent's console
// and handle (or do not ignore) the break get it: see Sys.Interrupt.
func (t *Tree) Interrupt() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrStopped
	}
	if err := t.sys.Interrupt(t.pid); err != nil {
		return fmt.Errorf("console break to process group %d: %w", t.pid, err)
	}
	return nil
}

// Stop ends every process of the tree and releases the job. Stopping a
// stopped tree is no error.
func (t *Tree) Stop() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	// Close kills what Terminate missed (a process that joined between
	// the two), so it runs even when Terminate fails.
	return errors.Join(t.job.Terminate(StopExitCode), closeJob(t.job))
}
