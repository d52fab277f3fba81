package process

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// taskState is what task.json records of a started task, enough for a
// restarted agent to find and adopt its process.
type taskState struct {
	TaskID string `json:"TaskID"`
	Name   string `json:"Name,omitempty"`
	PID    int    `json:"PID"`
	// StartTime is the process's start time, field 22 of /proc/<pid>/stat
	// (clock ticks since boot): with BootID it tells the task's process
	// from a later one that reuses its PID.
	StartTime  uint64             `json:"StartTime"`
	BootID     string             `json:"BootID,omitempty"`
	StopSignal int                `json:"StopSignal"`
	Endpoints  []api.TaskEndpoint `json:"Endpoints,omitempty"`
	StartedAt  time.Time          `json:"StartedAt"`
	// Env, Dir and User are the task's context, in which Exec runs health
	// checks, also after an agent restart.
	Env  []string `json:"Env,omitempty"`
	Dir  string   `json:"Dir,omitempty"`
	User string   `json:"User,omitempty"`
	// Sandboxed is set for a task in namespaces of its own (sandbox.go),
	// SandboxAddr is its address on its first network and Forwards its
	// node ports, which the runtime forwards to it
	// (sandboxports.go).
	Sandboxed   bool           `json:"Sandboxed,omitempty"`
	SandboxAddr string         `json:"SandboxAddr,omitempty"`
	Forwards    []forwardState `json:"Forwards,omitempty"`
}

// exitState is what exit.json records of an ended task.
type exitState struct {
	ExitCode int       `json:"ExitCode"`
	Message  string    `json:"Message"`
	ExitedAt time.Time `json:"ExitedAt"`
}

func (e exitState) status() runtime.ExitStatus {
	return runtime.ExitStatus{ExitCode: e.ExitCode, Message: e.Message, ExitedAt: e.ExitedAt}
}

func exitStateOf(s runtime.ExitStatus) exitState {
	return exitState{ExitCode: s.ExitCode, Message: s.Message, ExitedAt: s.ExitedAt}
}

// writeJSON writes v to path atomically: to a temporary file in the same
// folder, synced, then renamed over path.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readJSON reads path into v.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// procStat returns the start time (field 22, in clock ticks since boot) and
// the state (field 3) of a process, from /proc/<pid>/stat.
func procStat(pid int) (startTime uint64, state byte, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseStat(data)
}

// parseStat parses the contents of /proc/<pid>/stat. The command name (field
// 2) is in parentheses and may hold spaces and parentheses itself, so fields
// are counted from the last ')'.
func parseStat(data []byte) (startTime uint64, state byte, err error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc stat: no command name")
	}
	// fields[0] is field 3 (state), so field 22 is fields[19].
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, errors.New("malformed /proc stat: too few fields")
	}
	startTime, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed /proc stat start time: %w", err)
	}
	return startTime, fields[0][0], nil
}

var (
	bootIDOnce sync.Once
	bootIDVal  string
)

// bootID returns the kernel's boot ID, or "" if unknown: a process start time
// means nothing across a reboot.
func bootID() string {
	bootIDOnce.Do(func() {
		data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
		if err == nil {
			bootIDVal = strings.TrimSpace(string(data))
		}
	})
	return bootIDVal
}
