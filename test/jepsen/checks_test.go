package jepsen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/testutil/mgrproc"
)

// poll runs check until it returns "" or d passes; it returns the last
// complaint.
func poll(ctx context.Context, d time.Duration, check func(context.Context) string) string {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		why := check(ctx)
		if why == "" {
			return ""
		}
		select {
		case <-ctx.Done():
			return why
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// converge waits for one leader that every manager names, writes a
// barrier through it, and waits until every manager holds the same
// configs and services (IDs, versions, values), the barrier included,
// with no name twice. It returns the leader (nil after an error).
func converge(ctx context.Context, t *testing.T, cl *mgrproc.Cluster) *mgrproc.Manager {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	leader, err := cl.Leader(lctx)
	cancel()
	if err != nil {
		t.Errorf("no leader after the nemesis (stuck): %v\n%s", err, cl.Logs(40))
		return nil
	}
	barrier := fmt.Sprintf("jepsen-barrier-%d", time.Now().UnixNano())
	if why := poll(ctx, 30*time.Second, func(ctx context.Context) string {
		_, err := leader.Client().ConfigCreate(ctx, api.ConfigSpec{Name: barrier, Data: []byte("b")})
		if err != nil && !client.IsConflict(err) {
			return err.Error()
		}
		return ""
	}); why != "" {
		t.Errorf("the converged cluster takes no write: %s\n%s", why, cl.Logs(40))
		return nil
	}
	var states []string
	if why := poll(ctx, 30*time.Second, func(ctx context.Context) string {
		states = states[:0]
		for _, m := range cl.Managers {
			s, err := stateOf(ctx, m.Client())
			if err != nil {
				return fmt.Sprintf("manager %d: %v", m.Index+1, err)
			}
			if !strings.Contains(s, barrier) {
				return fmt.Sprintf("manager %d has not applied the barrier", m.Index+1)
			}
			states = append(states, s)
		}
		for i := range states {
			if states[i] != states[0] {
				return fmt.Sprintf("managers 1 and %d differ:\n%s\n--\n%s", i+1, states[0], states[i])
			}
		}
		return ""
	}); why != "" {
		t.Errorf("the managers do not converge: %s", why)
		return nil
	}
	for _, line := range strings.Split(states[0], "\n") {
		if strings.HasPrefix(line, "DUPLICATE") {
			t.Errorf("%s", line)
		}
	}
	// A leader may step down on a starved machine (its lease is 100 ms):
	// that is no anomaly, but the managers must still agree on one.
	if l, err := cl.Leader(ctx); err != nil {
		t.Errorf("no agreed leader after converging: %v", err)
	} else {
		leader = l
	}
	t.Logf("converged: manager %d leads, every manager holds the same %d objects", leader.Index+1, strings.Count(states[0], "\n"))
	return leader
}

// stateOf is a manager's configs and services, one line each, sorted;
// a name held by two objects gets a DUPLICATE line.
func stateOf(ctx context.Context, c *client.Client) (string, error) {
	cfgs, err := c.ConfigList(ctx)
	if err != nil {
		return "", err
	}
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		return "", err
	}
	var lines []string
	seen := map[string]bool{}
	add := func(kind, name, id string, version uint64, value string) {
		if seen[kind+name] {
			lines = append(lines, fmt.Sprintf("DUPLICATE %s %s", kind, name))
		}
		seen[kind+name] = true
		lines = append(lines, fmt.Sprintf("%s %s %s v%d %q", kind, name, id, version, value))
	}
	for _, cfg := range cfgs {
		add("config", cfg.Spec.Name, cfg.ID, cfg.Version, cfg.Spec.Labels[valueLabel])
	}
	for _, s := range svcs {
		add("service", s.Spec.Name, s.ID, s.Version, s.Spec.Labels[valueLabel])
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n", nil
}

// checkTasks waits until every service runs exactly one task, no live
// task belongs to a service that is gone, and the task processes of this
// run are exactly the running tasks' processes.
func checkTasks(ctx context.Context, t *testing.T, cl *mgrproc.Cluster, leader *mgrproc.Manager, marker string) {
	c := leader.Client()
	if why := poll(ctx, 60*time.Second, func(ctx context.Context) string {
		svcs, err := c.ServiceList(ctx)
		if err != nil {
			return err.Error()
		}
		tasks, err := c.TaskList(ctx, client.TaskFilter{})
		if err != nil {
			return err.Error()
		}
		ids := map[string]string{}
		for _, s := range svcs {
			ids[s.ID] = s.Spec.Name
		}
		running, live := map[string]int{}, map[string]int{}
		var pids []int
		for _, tk := range tasks {
			if !tk.Live() {
				continue
			}
			if _, ok := ids[tk.ServiceID]; !ok {
				return fmt.Sprintf("orphaned task %s of removed service %s (%s)", tk.ID, tk.ServiceID, tk.Status.State)
			}
			live[tk.ServiceID]++
			if tk.DesiredState == api.TaskStateRunning && tk.Status.State == api.TaskStateRunning {
				running[tk.ServiceID]++
				if pid, err := strconv.Atoi(tk.Status.RuntimeID); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		for id, name := range ids {
			if running[id] != 1 || live[id] != 1 {
				return fmt.Sprintf("service %s: %d running, %d live tasks, want 1", name, running[id], live[id])
			}
		}
		procs := markedProcesses(marker)
		sort.Ints(pids)
		if !slices.Equal(procs, pids) {
			return fmt.Sprintf("task processes %v, running tasks' processes %v; the others:\n%s", procs, pids, describeProcs(procs, pids))
		}
		return ""
	}); why != "" {
		t.Errorf("tasks: %s\n%s", why, cl.Logs(20))
	}
}

// removeAll removes every service and waits until no task and no task
// process is left.
func removeAll(ctx context.Context, t *testing.T, leader *mgrproc.Manager, marker string) {
	c := leader.Client()
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		t.Errorf("list services: %v", err)
		return
	}
	for _, s := range svcs {
		if err := c.ServiceRemove(ctx, s.ID); err != nil {
			t.Errorf("remove service %s: %v", s.Spec.Name, err)
		}
	}
	if why := poll(ctx, 60*time.Second, func(ctx context.Context) string {
		tasks, err := c.TaskList(ctx, client.TaskFilter{})
		if err != nil {
			return err.Error()
		}
		if len(tasks) > 0 {
			return fmt.Sprintf("%d tasks left", len(tasks))
		}
		if p := markedProcesses(marker); len(p) > 0 {
			return fmt.Sprintf("task processes left: %v\n%s", p, describeProcs(p, nil))
		}
		return ""
	}); why != "" {
		t.Errorf("after removing every service: %s", why)
	}
}

// markedProcesses are the PIDs of the processes whose environment holds
// marker, sorted.
func markedProcesses(marker string) []int {
	ents, _ := os.ReadDir("/proc")
	want := []byte(marker)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				out = append(out, pid)
				break
			}
		}
	}
	sort.Ints(out)
	return out
}

// killMarked kills the task processes of this run still there at the end.
func killMarked(t *testing.T, marker string) {
	for _, pid := range markedProcesses(marker) {
		t.Logf("killing leftover task process %d", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// describeProcs names the task and folder of each process of procs not
// in known.
func describeProcs(procs, known []int) string {
	var b strings.Builder
	for _, pid := range procs {
		if slices.Contains(known, pid) {
			continue
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		var task string
		for _, kv := range strings.Split(string(env), "\x00") {
			if strings.HasPrefix(kv, "SHOAL_TASK_NAME=") {
				task = strings.TrimPrefix(kv, "SHOAL_TASK_NAME=")
			}
		}
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		fmt.Fprintf(&b, "  pid %d: task %s, cwd %s\n", pid, task, cwd)
	}
	return b.String()
}
