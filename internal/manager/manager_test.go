package manager_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait, so a bug fails a test instead of hanging
// it; it is not a timing assertion.
const testTimeout = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const nodeID = "managernode0000000000000a"

// start runs a one-manager cluster on dir and waits until it leads. It is
// closed when the test ends.
func start(t *testing.T, dir string) *manager.Manager {
	t.Helper()
	m, err := manager.Start(manager.Config{RaftDir: dir, NodeID: nodeID, Logger: quiet, FastRaft: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.WaitLeader(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if !m.IsLeader() {
		t.Fatal("WaitLeader returned but the manager does not lead")
	}
	return m
}

func spec(name string, replicas uint64) api.ServiceSpec {
	return api.ServiceSpec{
		Name:         name,
		Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "1000"}}},
	}
}

func create(t *testing.T, m *manager.Manager, s api.ServiceSpec) *api.Service {
	t.Helper()
	svc, err := m.CreateService(testCtx(t), s)
	if err != nil {
		t.Fatalf("CreateService(%s): %v", s.Name, err)
	}
	return svc
}

func TestCreateServiceValidates(t *testing.T) {
	m := start(t, t.TempDir())
	bad := spec("bad name", 1)
	bad.Mode.Global = &api.GlobalService{}
	_, err := m.CreateService(testCtx(t), bad)
	if !errors.Is(err, manager.ErrInvalid) {
		t.Fatalf("CreateService of an invalid spec: %v, want ErrInvalid", err)
	}
	// Every problem is reported.
	if !strings.Contains(err.Error(), "invalid service name") || !strings.Contains(err.Error(), "not several") {
		t.Errorf("error %q", err)
	}
	if n := len(m.Store().Read().Services()); n != 0 {
		t.Errorf("%d services stored", n)
	}

	svc := create(t, m, spec("web", 2))
	if svc.ID == "" || svc.SpecVersion != 1 || svc.Version == 0 || svc.Spec.Name != "web" || svc.PreviousSpec != nil {
		t.Errorf("created %+v", svc)
	}
	if got := m.Store().Read().Service(svc.ID); got == nil || got.Version != svc.Version {
		t.Errorf("stored %+v", got)
	}
}

func TestCreateServiceRefusesDuplicates(t *testing.T) {
	m := start(t, t.TempDir())
	first := create(t, m, spec("web", 1))
	for _, name := range []string{"web", "WEB"} {
		_, err := m.CreateService(testCtx(t), spec(name, 3))
		if !errors.Is(err, manager.ErrConflict) {
			t.Errorf("CreateService(%s) again: %v, want ErrConflict", name, err)
		}
	}
	svcs := m.Store().Read().Services()
	if len(svcs) != 1 || svcs[0].ID != first.ID || svcs[0].Spec.Mode.Replicas() != 1 {
		t.Errorf("services after duplicates: %+v", svcs)
	}
}

// As docker, a service's mode is fixed: a replicated service does not
// become a job, which would run to completion instead of running on.
func TestUpdateServiceRefusesTurningAServiceIntoAJob(t *testing.T) {
	m := start(t, t.TempDir())
	svc := create(t, m, spec("web", 1))
	next := spec("web", 1)
	next.Mode = api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{TotalCompletions: 1}}
	_, err := m.UpdateService(testCtx(t), svc.ID, svc.Version, next)
	if !errors.Is(err, manager.ErrInvalid) || !strings.Contains(err.Error(), "mode cannot be changed (replicated to replicated job)") {
		t.Fatalf("mode change: %v, want ErrInvalid naming both modes", err)
	}
	if got := m.Store().Read().Service(svc.ID); got.Version != svc.Version {
		t.Error("a refused update was written")
	}
}

func TestUpdateServiceRefusesNameChange(t *testing.T) {
	m := start(t, t.TempDir())
	svc := create(t, m, spec("web", 1))
	_, err := m.UpdateService(testCtx(t), svc.ID, svc.Version, spec("api", 1))
	if !errors.Is(err, manager.ErrInvalid) || !strings.Contains(err.Error(), "name cannot be changed") {
		t.Fatalf("rename: %v, want ErrInvalid", err)
	}
	if got := m.Store().Read().Service(svc.ID); got.Version != svc.Version {
		t.Error("a refused update was written")
	}
}

func TestUpdateServiceRefusesModeChange(t *testing.T) {
	m := start(t, t.TempDir())
	rep := create(t, m, spec("rep", 1))
	glob := spec("glob", 0)
	glob.Mode = api.ServiceMode{Global: &api.GlobalService{}}
	gsvc := create(t, m, glob)

	toGlobal := spec("rep", 0)
	toGlobal.Mode = api.ServiceMode{Global: &api.GlobalService{}}
	if _, err := m.UpdateService(testCtx(t), rep.ID, 0, toGlobal); !errors.Is(err, manager.ErrInvalid) {
		t.Errorf("replicated to global: %v, want ErrInvalid", err)
	}
	if _, err := m.UpdateService(testCtx(t), gsvc.ID, 0, spec("glob", 2)); !errors.Is(err, manager.ErrInvalid) {
		t.Errorf("global to replicated: %v, want ErrInvalid", err)
	}
	// An invalid spec is refused before anything else.
	bad := spec("rep", 1)
	bad.TaskTemplate.ContainerSpec.Command = nil
	if _, err := m.UpdateService(testCtx(t), rep.ID, 0, bad); !errors.Is(err, manager.ErrInvalid) {
		t.Errorf("invalid update: %v, want ErrInvalid", err)
	}
}

func TestUpdateServiceStaleVersion(t *testing.T) {
	m := start(t, t.TempDir())
	svc := create(t, m, spec("web", 1))
	cur, err := m.UpdateService(testCtx(t), svc.ID, svc.Version, spec("web", 2))
	if err != nil {
		t.Fatal(err)
	}
	// A writer that read the service before that change.
	_, err = m.UpdateService(testCtx(t), svc.ID, svc.Version, spec("web", 5))
	if !errors.Is(err, manager.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	got := m.Store().Read().Service(svc.ID)
	if got.Version != cur.Version || got.Spec.Mode.Replicas() != 2 {
		t.Errorf("after the stale update: %+v", got)
	}
	// Version 0 means "whatever the current one is".
	if _, err := m.UpdateService(testCtx(t), svc.ID, 0, spec("web", 5)); err != nil {
		t.Errorf("unconditional update: %v", err)
	}
}

func TestUpdateServiceSpecVersion(t *testing.T) {
	m := start(t, t.TempDir())
	ctx := testCtx(t)
	svc := create(t, m, spec("web", 1))

	// A replica change is no new task spec.
	s2 := spec("web", 3)
	scaled, err := m.UpdateService(ctx, "web", svc.Version, s2)
	if err != nil {
		t.Fatal(err)
	}
	if scaled.SpecVersion != 1 || scaled.Version <= svc.Version || scaled.Spec.Mode.Replicas() != 3 {
		t.Errorf("after scaling: %+v", scaled)
	}
	if scaled.PreviousSpec == nil || !reflect.DeepEqual(*scaled.PreviousSpec, svc.Spec) {
		t.Errorf("PreviousSpec after scaling %+v, want %+v", scaled.PreviousSpec, svc.Spec)
	}
	if !scaled.CreatedAt.Equal(svc.CreatedAt) {
		t.Errorf("CreatedAt changed: %v -> %v", svc.CreatedAt, scaled.CreatedAt)
	}

	cur := scaled
	changes := map[string]func(s *api.ServiceSpec){
		"task template": func(s *api.ServiceSpec) { s.TaskTemplate.ContainerSpec.Command = []string{"sleep", "2000"} },
		"endpoint": func(s *api.ServiceSpec) {
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}}
		},
		"force update": func(s *api.ServiceSpec) { s.TaskTemplate.ForceUpdate++ },
	}
	for _, name := range []string{"task template", "endpoint", "force update"} {
		next := cur.Spec
		next.Labels = cur.Spec.Labels
		changes[name](&next)
		// Version 0: the updater writes the service's update status
		// between our updates, so an exact version would race with it.
		upd, err := m.UpdateService(ctx, cur.ID, 0, next)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if upd.SpecVersion != cur.SpecVersion+1 {
			t.Errorf("%s: SpecVersion %d, want %d", name, upd.SpecVersion, cur.SpecVersion+1)
		}
		if upd.PreviousSpec == nil || !reflect.DeepEqual(*upd.PreviousSpec, cur.Spec) {
			t.Errorf("%s: PreviousSpec %+v, want %+v", name, upd.PreviousSpec, cur.Spec)
		}
		cur = upd
	}

	// Neither is an update config change, nor a change of the service's
	// labels: as in Swarm, new routing labels apply without new tasks.
	for name, change := range map[string]func(s *api.ServiceSpec){
		"update config": func(s *api.ServiceSpec) { s.UpdateConfig = &api.UpdateConfig{Parallelism: 2} },
		"labels":        func(s *api.ServiceSpec) { s.Labels = map[string]string{"tier": "front"} },
	} {
		next := cur.Spec
		change(&next)
		upd, err := m.UpdateService(ctx, cur.ID, 0, next)
		if err != nil {
			t.Fatal(err)
		}
		if upd.SpecVersion != cur.SpecVersion {
			t.Errorf("%s change bumped SpecVersion to %d", name, upd.SpecVersion)
		}
		cur = upd
	}
}

func TestUpdateServiceIdenticalIsNoop(t *testing.T) {
	m := start(t, t.TempDir())
	svc := create(t, m, spec("web", 2))
	same, err := m.UpdateService(testCtx(t), svc.ID, svc.Version, spec("web", 2))
	if err != nil {
		t.Fatal(err)
	}
	if same.Version != svc.Version || same.SpecVersion != 1 || same.PreviousSpec != nil {
		t.Errorf("identical update changed the service: %+v", same)
	}
	// Nothing was written for it (the orchestrator may write tasks, never
	// the service).
	if got := m.Store().Read().Service(svc.ID); got.Version != svc.Version {
		t.Errorf("service version %d, want %d", got.Version, svc.Version)
	}
}

func TestUpdateAndRemoveUnknownService(t *testing.T) {
	m := start(t, t.TempDir())
	if _, err := m.UpdateService(testCtx(t), "nope", 0, spec("nope", 1)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("UpdateService of an unknown service: %v, want ErrNotFound", err)
	}
	if err := m.RemoveService(testCtx(t), "nope"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("RemoveService of an unknown service: %v, want ErrNotFound", err)
	}
}

func TestRemoveService(t *testing.T) {
	m := start(t, t.TempDir())
	svc := create(t, m, spec("web", 1))
	// By a unique ID prefix, as the CLI allows.
	if err := m.RemoveService(testCtx(t), svc.ID[:8]); err != nil {
		t.Fatal(err)
	}
	if m.Store().Read().Service(svc.ID) != nil {
		t.Error("service still stored")
	}
	if err := m.RemoveService(testCtx(t), "web"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
}

// waitTasks waits until the service's tasks satisfy ok.
func waitTasks(t *testing.T, m *manager.Manager, serviceID, what string, ok func([]*api.Task) bool) []*api.Task {
	t.Helper()
	tx, sub := m.Store().Subscribe()
	defer sub.Close()
	ctx := testCtx(t)
	for {
		if ts := tx.TasksByService(serviceID); ok(ts) {
			return ts
		}
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("tasks never %s (now %+v): %v", what, m.Store().Read().TasksByService(serviceID), err)
		}
		tx = m.Store().Read()
	}
}

func TestOrchestratorMakesPendingTasks(t *testing.T) {
	m := start(t, t.TempDir())
	svc := create(t, m, spec("web", 2))
	const reason = "no suitable node (no nodes in the cluster)"
	ts := waitTasks(t, m, svc.ID, "pending with a reason", func(ts []*api.Task) bool {
		if len(ts) != 2 {
			return false
		}
		for _, tk := range ts {
			if tk.Status.Err != reason {
				return false
			}
		}
		return true
	})
	slots := map[uint64]bool{}
	for _, tk := range ts {
		if tk.Status.State != api.TaskStatePending || tk.NodeID != "" || tk.DesiredState != api.TaskStateRunning {
			t.Errorf("task %+v", tk)
		}
		if tk.ServiceName != "web" || tk.SpecVersion != 1 {
			t.Errorf("task made from %s v%d", tk.ServiceName, tk.SpecVersion)
		}
		slots[tk.Slot] = true
	}
	if !slots[1] || !slots[2] {
		t.Errorf("slots %v, want 1 and 2", slots)
	}

	// Removing the service retires its tasks.
	if err := m.RemoveService(testCtx(t), svc.ID); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, m, svc.ID, "retired", func(ts []*api.Task) bool {
		for _, tk := range ts {
			if tk.DesiredState <= api.TaskStateRunning {
				return false
			}
		}
		return true
	})
}

func TestDispatcherRunsWhileLeader(t *testing.T) {
	m := start(t, t.TempDir())
	s, err := m.Dispatcher().Register(testCtx(t), api.NodeRegistration{NodeID: "worker1", Addr: "127.0.0.1"})
	if err != nil {
		t.Fatalf("Register on the leader: %v", err)
	}
	defer s.Close()
	if n := m.Store().Read().Node("worker1"); n == nil || n.Status.State != api.NodeStateReady {
		t.Errorf("node %+v", n)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	dir := t.TempDir()
	m, err := manager.Start(manager.Config{RaftDir: dir, NodeID: nodeID, Logger: quiet, FastRaft: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WaitLeader(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	svc := create(t, m, spec("web", 1))
	s, err := m.Dispatcher().Register(testCtx(t), api.NodeRegistration{NodeID: "worker1", Addr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The dispatcher stopped: the session ended.
	if _, err := s.Heartbeat(testCtx(t)); !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Errorf("Heartbeat after Close: %v", err)
	}
	s.Close()
	if _, err := m.CreateService(testCtx(t), spec("db", 1)); err == nil {
		t.Error("CreateService after Close succeeded")
	}

	// The folder opens again, with the service.
	m2 := start(t, dir)
	if err := m2.Raft().Barrier(testTimeout); err != nil {
		t.Fatal(err)
	}
	if got := m2.Store().Read().Service(svc.ID); got == nil || got.Spec.Name != "web" {
		t.Errorf("service after restart: %+v", got)
	}
}

func TestUpdateServiceEmptyEqualsUnset(t *testing.T) {
	m := start(t, t.TempDir())
	svc := create(t, m, spec("web", 2))
	// A client that sends empty maps and lists for what it leaves unset,
	// as JSON clients often do, changes nothing: the stored spec came
	// through the Raft log, where empty and unset are the same.
	same := spec("web", 2)
	same.Labels = map[string]string{}
	same.TaskTemplate.ContainerSpec.Env = []string{}
	same.TaskTemplate.ContainerSpec.Labels = map[string]string{}
	got, err := m.UpdateService(testCtx(t), svc.ID, svc.Version, same)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != svc.Version || got.SpecVersion != 1 {
		t.Errorf("an update with empty maps changed the service: version %d -> %d, SpecVersion %d", svc.Version, got.Version, got.SpecVersion)
	}
	// Scaling with such a spec is still no new task spec.
	scaled := same
	scaled.Mode = api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 4}}
	got, err = m.UpdateService(testCtx(t), svc.ID, 0, scaled)
	if err != nil {
		t.Fatal(err)
	}
	if got.SpecVersion != 1 || got.Spec.Mode.Replicas() != 4 {
		t.Errorf("scaling with empty maps: SpecVersion %d, replicas %d", got.SpecVersion, got.Spec.Mode.Replicas())
	}
}

// A cluster's secrets are sealed with its key: a folder that held a
// cluster and lost the key is refused, not given a new key that would
// leave every stored secret unreadable.
func TestLostSecretKeyIsRefused(t *testing.T) {
	dir := t.TempDir()
	m := start(t, dir)
	if _, err := m.CreateSecret(testCtx(t), api.SecretSpec{Name: "db", Data: []byte("hush")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, secretkey.FileName)
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	m2, err := manager.Start(manager.Config{RaftDir: dir, NodeID: nodeID, Logger: quiet, FastRaft: true, Existing: true})
	if err == nil {
		m2.Close()
		t.Fatal("Start on a folder that lost its secret key succeeded")
	}
	var damaged *cluster.DamagedError
	if !errors.As(err, &damaged) || damaged.File != keyPath {
		t.Errorf("Start: %v, want a DamagedError naming %s", err, keyPath)
	}
	if _, err := os.Stat(keyPath); !os.IsNotExist(err) {
		t.Errorf("a refused start made a new key (%v)", err)
	}
}

// Any update of a service resumes its paused update, as in Swarm: an
// identical one (with no new revision) and a replicas-only one.
func TestAnyServiceUpdateResumesAPausedUpdate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas uint64
	}{{"identical", 2}, {"replicas only", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			m := start(t, t.TempDir())
			svc := create(t, m, spec("web", 2))
			paused := *svc
			paused.UpdateStatus = &api.UpdateStatus{State: api.UpdateStatePaused, Message: "update paused due to failure"}
			res, err := m.Propose(testCtx(t), &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpUpdateService, Service: &paused, ExpectVersion: svc.Version}}})
			if err != nil || res.Err != nil {
				t.Fatalf("pause: %v %v", err, res.Err)
			}
			got, err := m.UpdateService(testCtx(t), svc.ID, 0, spec("web", tc.replicas))
			if err != nil {
				t.Fatal(err)
			}
			if got.UpdatePaused() || got.UpdateStatus == nil || got.UpdateStatus.StartedAt == nil {
				t.Fatalf("update status %+v after the update, want a restarted update", got.UpdateStatus)
			}
			wantRev := svc.Revision + 1
			if tc.replicas == 2 {
				wantRev = svc.Revision // nothing of the spec changed
			}
			if got.Revision != wantRev || got.SpecVersion != svc.SpecVersion {
				t.Errorf("revision %d spec version %d, want %d and %d", got.Revision, got.SpecVersion, wantRev, svc.SpecVersion)
			}
		})
	}
}

// Removes of one service racing each other: exactly one says it removed
// it, the others answer not found (a linearizable remove; the Jepsen test
// in test/jepsen found two removes both answering ok).
func TestConcurrentRemovesOneWins(t *testing.T) {
	m := start(t, t.TempDir())
	for round := range 5 {
		svc := create(t, m, spec(fmt.Sprintf("race-%d", round), 0))
		const n = 8
		errs := make(chan error, n)
		start := make(chan struct{})
		for range n {
			go func() {
				<-start
				errs <- m.RemoveService(testCtx(t), svc.ID)
			}()
		}
		close(start)
		ok := 0
		for range n {
			switch err := <-errs; {
			case err == nil:
				ok++
			case !errors.Is(err, state.ErrNotFound):
				t.Fatalf("round %d: remove: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of %d concurrent removes said they removed the service, want 1", round, ok, n)
		}
	}
}
