package compose

import (
	"testing"

	"github.com/shoalproject/shoal/api"
)

// deploy.mode replicated-job and global-job become job modes as docker
// stack deploy makes them: replicas is both the completions and how many
// run at once.
func TestComposeJobModesConvert(t *testing.T) {
	st := mustLoad(t, `services:
  migrate:
    image: x
    deploy:
      mode: replicated-job
      replicas: 4
  once:
    image: x
    deploy:
      mode: replicated-job
  everywhere:
    image: x
    deploy:
      mode: global-job
`)
	eq(t, "replicated job", service(t, st, "st_migrate").Mode, api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: 4, TotalCompletions: 4}})
	once := service(t, st, "st_once").Mode
	eq(t, "replicated job without replicas", once, api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{}})
	if c, total := once.ReplicatedJob.Limits(); c != 1 || total != 1 {
		t.Errorf("a replicated job without replicas runs %d at once to %d completions, want 1 and 1", c, total)
	}
	eq(t, "global job", service(t, st, "st_everywhere").Mode, api.ServiceMode{GlobalJob: &api.GlobalJob{}})
}
