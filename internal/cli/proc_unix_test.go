//go:build !windows

package cli

import "syscall"

// killProcess ends the process pid at once (SIGKILL).
func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// processAlive fails unless pid names a live process (signal 0).
func processAlive(pid int) error { return syscall.Kill(pid, 0) }
