package winjob

import (
	"fmt"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// System is the Windows Sys.
type System struct{}

var _ Sys = System{}

type job struct{ h windows.Handle }

// NewJob creates an unnamed job object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE.
func (System) NewJob() (Job, error) {
	h, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("CreateJobObject: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(h, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(h)
		return nil, fmt.Errorf("SetInformationJobObject: %w", err)
	}
	return &job{h: h}, nil
}

func (j *job) Assign(pid int) error {
	p, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("OpenProcess: %w", err)
	}
	defer windows.CloseHandle(p)
	return windows.AssignProcessToJobObject(j.h, p)
}

func (j *job) Terminate(code uint32) error { return windows.TerminateJobObject(j.h, code) }
func (j *job) Close() error                { return windows.CloseHandle(j.h) }

// Kill ends one process.
func (System) Kill(pid int) error {
	p, err := windows.OpenProcess(windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("OpenProcess: %w", err)
	}
	defer windows.CloseHandle(p)
	return windows.TerminateProcess(p, StopExitCode)
}

// ntResumeProcess resumes every thread of a process: exec.Cmd does not
// give the main thread's handle that ResumeThread would need.
var ntResumeProcess = windows.NewLazySystemDLL("ntdll.dll").NewProc("NtResumeProcess")

// Resume lets a process started suspended run.
func (System) Resume(pid int) error {
	const processSuspendResume = 0x0800
	p, err := windows.OpenProcess(processSuspendResume, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("OpenProcess: %w", err)
	}
	defer windows.CloseHandle(p)
	if st, _, _ := ntResumeProcess.Call(uintptr(p)); st != 0 {
		return fmt.Errorf("NtResumeProcess: NTSTATUS %#x", st)
	}
	return nil
}

// Interrupt sends CTRL_BREAK_EVENT to the process group pid leads. It
// reaches only processes attached to the agent's console (a task started
// by Suspended inherits it; an agent without a console, as a service has,
// cannot send it: the call fails and the task is terminated instead), and
// only console programs: a GUI program, or one that started with a
// console of its own, never sees it. CTRL_C_EVENT is not used: a process
// group made with CREATE_NEW_PROCESS_GROUP ignores it.
func (System) Interrupt(pid int) error {
	if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(pid)); err != nil {
		return fmt.Errorf("GenerateConsoleCtrlEvent: %w", err)
	}
	return nil
}

// Suspended makes cmd start suspended, in a process group of its own (so
// a console break reaches its tree only), for Start.
func Suspended(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_SUSPENDED | windows.CREATE_NEW_PROCESS_GROUP
}
