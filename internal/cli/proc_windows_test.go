package cli

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// killProcess ends the process pid at once.
func killProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// processAlive fails unless pid names a process that has not exited.
func processAlive(pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return err
	}
	if code != 259 { // STILL_ACTIVE
		return fmt.Errorf("process %d exited with code %d", pid, code)
	}
	return nil
}
