package demo

import (
	"slices"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// The cleanup waits for the tasks of the removed stacks that still run,
// though none of them is meant to (the drain delay, the stop signal), and
// not for other services' or ended tasks.
func TestUnstoppedCountsTasksMeantToStop(t *testing.T) {
	task := func(id, service string, desired, state api.TaskState) *api.Task {
		return &api.Task{ID: id, ServiceName: service, DesiredState: desired, Status: api.TaskStatus{State: state}}
	}
	ts := []*api.Task{
		task("stopping", Web, api.TaskStateRemove, api.TaskStateRunning),
		task("draining", Infrastructure+"_message-queue", api.TaskStateShutdown, api.TaskStateRunning),
		task("starting", API, api.TaskStateRunning, api.TaskStateStarting),
		task("ended", Web, api.TaskStateRemove, api.TaskStateShutdown),
		task("failed", API, api.TaskStateShutdown, api.TaskStateFailed),
		task("others", "own", api.TaskStateRunning, api.TaskStateRunning),
		task("signupish", "signupx_web", api.TaskStateRunning, api.TaskStateRunning),
	}
	var got []string
	for _, tk := range unstopped(ts) {
		got = append(got, tk.ID)
	}
	if want := []string{"stopping", "draining", "starting"}; !slices.Equal(got, want) {
		t.Errorf("unstopped: %v; want %v", got, want)
	}
}
