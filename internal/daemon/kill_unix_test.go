//go:build !windows

package daemon

import "syscall"

// killPID signals a task's process (0: is it alive).
func killPID(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }
