package dockerapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// insertDefaults fills what the spec leaves out and never replaces what
// it says, unlike swarmkit's merge (which turns Parallelism 0 into 1).
func TestInsertDefaultsKeepsWhatTheSpecSays(t *testing.T) {
	var s swarm.ServiceSpec
	s.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "x"}
	s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 0, Delay: 2 * time.Second, Order: swarm.UpdateOrderStartFirst}
	insertDefaults(&s)
	if u := s.UpdateConfig; u.Parallelism != 0 || u.Delay != 2*time.Second || u.Order != swarm.UpdateOrderStartFirst ||
		u.Monitor != 5*time.Second || u.FailureAction != swarm.UpdateFailureActionPause {
		t.Errorf("update config %+v", u)
	}
	if r := s.RollbackConfig; r == nil || r.Parallelism != 1 || r.Order != swarm.UpdateOrderStopFirst {
		t.Errorf("rollback config %+v", r)
	}
	ts := s.TaskTemplate
	if rp := ts.RestartPolicy; rp.Condition != swarm.RestartPolicyConditionAny || *rp.Delay != 5*time.Second || *rp.MaxAttempts != 0 {
		t.Errorf("restart policy %+v", rp)
	}
	if *ts.ContainerSpec.StopGracePeriod != 10*time.Second || ts.ContainerSpec.DNSConfig == nil ||
		ts.Resources.Limits == nil || ts.Resources.Reservations == nil || ts.Placement == nil {
		t.Errorf("task template %+v", ts)
	}
}

// Swarm's wording of the errors the docker CLI prints, and shoal's own
// for the rest.
func TestDockerMessage(t *testing.T) {
	for _, tc := range []struct {
		code    int
		in, out string
	}{
		{http.StatusNotFound, "service web: not found", "service web not found"},
		{http.StatusNotFound, "node abc: not found", "node abc not found"},
		{http.StatusConflict, `conflict: service "web" already exists`, "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists"},
		{http.StatusConflict, `conflict: secret "s" already exists`, "rpc error: code = AlreadyExists desc = secret s already exists"},
		{http.StatusConflict, `conflict: network "n" already exists`, "network with name n already exists"},
		{http.StatusConflict, "conflict: update out of sequence", "conflict: update out of sequence"},
		{http.StatusBadRequest, "service web: not found", "service web: not found"},
	} {
		if got := dockerMessage(tc.code, tc.in); got != tc.out {
			t.Errorf("dockerMessage(%d, %q) = %q, want %q", tc.code, tc.in, got, tc.out)
		}
	}
}
