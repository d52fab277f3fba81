package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/state"
)

// `swarm leave` on a worker's socket: the agent stops its task and
// exits, its node goes down, and its certificate is gone (joining again
// takes a token). The socket answers nothing else, in docker's words.
func TestWorkerLeaves(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0", HeartbeatPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, _ := client.New(d.Host())
	dir := t.TempDir()
	a := startRegistered(t, ctx, AgentConfig{DataDir: dir, Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2", Logger: quiet, Hostname: "w"})
	spec := api.ServiceSpec{Name: "steady", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "1000"}},
			Placement: &api.Placement{Constraints: []string{"node.hostname==w"}}}}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var pid int
	waitStore(t, ctx, d.Manager().Store(), "the task running on the worker", func(tx *state.ReadTx) bool {
		for _, tk := range tx.TasksByNode(a.NodeID()) {
			if tk.Status.State == api.TaskStateRunning {
				pid = atoi(tk.Status.RuntimeID)
				return true
			}
		}
		return false
	})
	wc, _ := client.New("unix://" + filepath.Join(dir, "shoal.sock"))
	if _, err := wc.ServiceList(ctx); err == nil || !strings.Contains(err.Error(), "This node is not a swarm manager") {
		t.Errorf("service ls on a worker: %v", err)
	}
	if err := wc.SwarmLeave(ctx, false); err != nil {
		t.Fatalf("swarm leave on the worker: %v", err)
	}
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("the agent did not stop")
	}
	if !errors.Is(a.Err(), ErrLeft) {
		t.Errorf("agent stopped with %v, want ErrLeft", a.Err())
	}
	if processAlive(pid) {
		t.Errorf("the task's process %d still runs", pid)
	}
	a.Close()
	if _, err := os.Stat(filepath.Join(dir, ca.NodeCertFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the node's certificate is still there: %v", err)
	}
	waitStore(t, ctx, d.Manager().Store(), "the worker down", func(tx *state.ReadTx) bool {
		n := tx.Node(a.NodeID())
		return n != nil && n.Status.State == api.NodeStateDown
	})
	if err := c.ServiceRemove(ctx, "steady"); err != nil {
		t.Fatal(err)
	}
}

// A manager refuses to leave without --force, in Swarm's words; with it,
// a follower takes itself out of Raft (the quorum holds), stops, and its
// cluster state is removed from its data folder.
func TestManagerLeaves(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagersWith(t, ctx, 3, 200*time.Millisecond)
	var leaver, other *Dev
	for _, d := range ds {
		if !d.Manager().IsLeader() && leaver == nil {
			leaver = d
		} else if other == nil || d.Manager().IsLeader() {
			other = d
		}
	}
	lc, _ := client.New(leaver.Host())
	err := lc.SwarmLeave(ctx, false)
	if err == nil || !strings.Contains(err.Error(), "You are attempting to leave the swarm on a node that is participating as a manager") ||
		!strings.Contains(err.Error(), "--force") {
		t.Fatalf("leave without force: %v", err)
	}
	if err := lc.SwarmLeave(ctx, true); err != nil {
		t.Fatalf("leave with force: %v", err)
	}
	select {
	case <-leaver.Left():
	case <-ctx.Done():
		t.Fatal("the manager never left")
	}
	members, _ := other.Manager().Raft().Members()
	for _, m := range members {
		if m.ID == leaver.NodeID() {
			t.Errorf("the manager that left is still a raft voter: %v", members)
		}
	}
	if len(members) != 2 {
		t.Errorf("raft voters %v, want 2", members)
	}
	if n := other.Manager().Store().Read().Node(leaver.NodeID()); n == nil || n.Spec.Role != api.RoleWorker {
		t.Errorf("the manager that left: %+v, want a worker", n)
	}
	leaver.Close()
	if _, err := os.Stat(filepath.Join(leaver.DataDir(), "raft")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("its raft folder is still there: %v", err)
	}
	// The last manager: Swarm's warning.
	one, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	oc, _ := client.New(one.Host())
	if err := oc.SwarmLeave(ctx, false); err == nil || !strings.Contains(err.Error(), "Removing the last manager erases all current state of the swarm") {
		t.Errorf("leave of the last manager: %v", err)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// processAlive reports whether pid runs (and is not a zombie).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}
