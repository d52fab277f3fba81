package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// Web is the service the story is about.
const Web = Stack + "_signup-web"

// Up deploys the infrastructure stack and signup-v1.yml, and waits until
// every service runs healthy.
func Up(ctx context.Context, e *Env) error {
	if _, err := Deploy(ctx, e, "infrastructure.yml", Infrastructure); err != nil {
		return fmt.Errorf("deploy infrastructure: %w", err)
	}
	if _, err := Deploy(ctx, e, "signup-v1.yml", Stack); err != nil {
		return fmt.Errorf("deploy signup-v1.yml: %w", err)
	}
	return WaitHealthy(ctx, e.Client)
}

// WaitHealthy waits until every service of the demo's stacks runs its
// replicas healthy, with no update in progress.
func WaitHealthy(ctx context.Context, c *client.Client) error {
	var why string
	for {
		ok, w, err := healthy(ctx, c)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		why = w
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the services to be healthy: %w (%s)", ctx.Err(), why)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func healthy(ctx context.Context, c *client.Client) (bool, string, error) {
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		return false, "", err
	}
	for _, s := range svcs {
		if ns := s.Spec.Labels[api.StackNamespaceLabel]; ns != Stack && ns != Infrastructure {
			continue
		}
		if st := s.UpdateStatus; st != nil && st.State != api.UpdateStateCompleted && st.State != api.UpdateStateRollbackCompleted {
			return false, s.Spec.Name + " is " + st.State, nil
		}
		ts, err := c.TaskList(ctx, client.TaskFilter{Service: s.Spec.Name})
		if err != nil {
			return false, "", err
		}
		if n := len(HealthyTasks(ts)); uint64(n) != s.Spec.Mode.Replicas() || n != len(liveTasks(ts)) {
			return false, fmt.Sprintf("%s: %d of %d replicas healthy", s.Spec.Name, n, s.Spec.Mode.Replicas()), nil
		}
	}
	return true, "", nil
}

// HealthyTasks are the tasks that run, are meant to, and pass their
// health check (or have none).
func HealthyTasks(ts []*api.Task) []*api.Task {
	var out []*api.Task
	for _, t := range ts {
		if t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning &&
			(t.Status.Health == "" || t.Status.Health == api.HealthHealthy) {
			out = append(out, t)
		}
	}
	return out
}

func liveTasks(ts []*api.Task) []*api.Task {
	var out []*api.Task
	for _, t := range ts {
		if t.Live() {
			out = append(out, t)
		}
	}
	return out
}

// KillOne kills one healthy task of service the hard way (SIGKILL of
// its process: the process runtime's RuntimeID is its PID) and waits
// until a new task replaced it. It returns the killed task and the new.
func KillOne(ctx context.Context, c *client.Client, service string) (killed, replacement *api.Task, err error) {
	ts, err := c.TaskList(ctx, client.TaskFilter{Service: service})
	if err != nil {
		return nil, nil, err
	}
	h := HealthyTasks(ts)
	if len(h) == 0 {
		return nil, nil, fmt.Errorf("%s has no healthy task to kill", service)
	}
	killed = h[0]
	if err := kill(ctx, killed); err != nil {
		return nil, nil, err
	}
	for {
		ts, err := c.TaskList(ctx, client.TaskFilter{Service: service})
		if err != nil {
			return killed, nil, err
		}
		for _, t := range HealthyTasks(ts) {
			if t.Slot == killed.Slot && t.ID != killed.ID {
				return killed, t, nil
			}
		}
		select {
		case <-ctx.Done():
			return killed, nil, fmt.Errorf("waiting for a task to replace %s: %w", killed.ID, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// kill kills a task's container (docker kill), or its process (kill -9:
// the process runtime's RuntimeID is its PID).
func kill(ctx context.Context, t *api.Task) error {
	if t.Spec.ContainerSpec.Image != "" {
		if err := killContainer(ctx, t.Status.RuntimeID); err != nil {
			return fmt.Errorf("kill task %s (container %s): %w", t.ID, t.Status.RuntimeID, err)
		}
		return nil
	}
	pid, err := strconv.Atoi(t.Status.RuntimeID)
	if err != nil || pid <= 0 {
		return fmt.Errorf("task %s runs no process of this host (runtime ID %q)", t.ID, t.Status.RuntimeID)
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		return fmt.Errorf("kill task %s (pid %d): %w", t.ID, pid, err)
	}
	return nil
}

// Scale sets service's replicas and waits until they run healthy.
func Scale(ctx context.Context, c *client.Client, service string, n uint64) error {
	return updateSpec(ctx, c, service, func(s *api.ServiceSpec) { s.Mode.Replicated.Replicas = n })
}

func updateSpec(ctx context.Context, c *client.Client, service string, change func(*api.ServiceSpec)) error {
	s, err := c.ServiceInspect(ctx, service)
	if err != nil {
		return err
	}
	spec := s.Spec
	change(&spec)
	if _, err := c.ServiceUpdate(ctx, s.ID, s.Version, spec); err != nil {
		return fmt.Errorf("update %s: %w", service, err)
	}
	return nil
}

// Rollout deploys a stack file as the signup stack while a load runs on
// path, and waits until every service is healthy again. It returns the
// load's counts and, for the web service, the most of its tasks that
// were live at once (more than its replicas: start-first).
func Rollout(ctx context.Context, e *Env, file, url string) (ok, failed int, errs []string, maxLive int, err error) {
	load := StartLoad(url, 4)
	stop := make(chan struct{})
	peak := make(chan int, 1)
	go func() { peak <- watchLive(e.Client, Web, stop) }()
	_, err = Deploy(ctx, e, file, Stack)
	if err == nil {
		time.Sleep(time.Second) // the update status shows on the next pass
		err = WaitHealthy(ctx, e.Client)
	}
	close(stop)
	maxLive = <-peak
	ok, failed, errs = load.Stop()
	return ok, failed, errs, maxLive, err
}

func watchLive(c *client.Client, service string, stop chan struct{}) int {
	most := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ts, err := c.TaskList(ctx, client.TaskFilter{Service: service})
		cancel()
		if err == nil {
			most = max(most, len(liveTasks(ts)))
		}
		select {
		case <-stop:
			return most
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// BadRelease updates signup-web to a release whose health check fails
// (SIGNUP_BREAK=health) and waits for the update to end: with v3's
// failure_action rollback, it ends rolled back. It returns the final
// update state and whether the spec is the one before the bad release.
func BadRelease(ctx context.Context, c *client.Client) (state string, restored bool, err error) {
	before, err := c.ServiceInspect(ctx, Web)
	if err != nil {
		return "", false, err
	}
	if err := updateSpec(ctx, c, Web, func(s *api.ServiceSpec) {
		s.TaskTemplate.ContainerSpec.Env = append(slices.Clone(s.TaskTemplate.ContainerSpec.Env), "SIGNUP_BREAK=health")
	}); err != nil {
		return "", false, err
	}
	for {
		s, err := c.ServiceInspect(ctx, Web)
		if err != nil {
			return "", false, err
		}
		if st := s.UpdateStatus; st != nil && (st.State == api.UpdateStateRollbackCompleted || st.State == api.UpdateStateCompleted || st.State == api.UpdateStatePaused) {
			restored = !slices.Contains(s.Spec.TaskTemplate.ContainerSpec.Env, "SIGNUP_BREAK=health") &&
				slices.Equal(s.Spec.TaskTemplate.ContainerSpec.Env, before.Spec.TaskTemplate.ContainerSpec.Env)
			return st.State, restored, nil
		}
		select {
		case <-ctx.Done():
			return "", false, fmt.Errorf("waiting for the bad release to roll back: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Prospect is a saved sign-up, as `signup prospects` prints it.
type Prospect struct {
	FirstName, LastName, Email, Country, Role, Replica string
}

// Prospects reads the saved prospects from the database's folder.
func Prospects(ctx context.Context, e *Env) ([]Prospect, error) {
	out, err := exec.CommandContext(ctx, e.Bin, "prospects", "--data", e.DBDir).Output()
	if err != nil {
		return nil, fmt.Errorf("read the prospects: %w", err)
	}
	var ps []Prospect
	return ps, json.Unmarshal(out, &ps)
}
