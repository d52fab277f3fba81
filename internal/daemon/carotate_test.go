package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
)

// `swarm ca --rotate` on a 2-manager, 1-worker cluster: the worker's
// task keeps running and its node stays ready throughout, every node
// ends with a certificate of the new root, and afterwards a certificate
// of the old root is refused on the agent port and on the Raft port, and
// the old join token admits nobody.
func TestCARotationKeepsNodesConnected(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagersWith(t, ctx, 2, 200*time.Millisecond)
	dir := t.TempDir()
	oldToken := ds[0].JoinToken()
	a := startRegistered(t, ctx, AgentConfig{DataDir: dir, Manager: ds[0].AgentAddr(), Token: oldToken, Addr: "127.0.0.9", Logger: quiet})
	c1, _ := client.New(ds[1].Host())
	one := uint64(1)
	svc, err := c1.ServiceCreate(ctx, api.ServiceSpec{Name: "on-worker", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: one}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "1000"}},
			Placement: &api.Placement{Constraints: []string{"node.id==" + a.NodeID()}}}})
	if err != nil {
		t.Fatal(err)
	}
	var taskID string
	waitStore(t, ctx, ds[0].Manager().Store(), "the task running on the worker", func(tx *state.ReadTx) bool {
		for _, tk := range tx.Tasks() {
			if tk.ServiceID == svc.ID && tk.Status.State == api.TaskStateRunning {
				taskID = tk.ID
				return true
			}
		}
		return false
	})
	oldWorker, err := ca.LoadNodeIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	oldManager, _ := ds[1].self.Identity()
	oldRoot := oldWorker.Root.Digest()

	// Through the follower: the leader rotates.
	if err := c1.RotateCA(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c1.RotateCA(ctx); err == nil || !strings.Contains(err.Error(), "under way") {
		t.Fatalf("a second rotation while one is under way: %v", err)
	}
	var newRoot string
	for {
		sw, err := c1.SwarmInspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx := ds[0].Manager().Store().Read()
		if n := tx.Node(a.NodeID()); n == nil || n.Status.State != api.NodeStateReady {
			t.Fatalf("the worker's node during the rotation: %+v", n)
		}
		if tk := tx.Task(taskID); tk == nil || tk.Status.State != api.TaskStateRunning {
			t.Fatalf("the worker's task during the rotation: %+v", tk)
		}
		if !sw.RootRotationInProgress {
			r, err := ca.ParseRootCert([]byte(sw.TLSInfo.TrustRoot))
			if err != nil {
				t.Fatal(err)
			}
			newRoot = r.Digest()
			break
		}
		select {
		case <-a.Done():
			t.Fatalf("agent stopped: %v", a.Err())
		case <-ctx.Done():
			t.Fatalf("the rotation never ended: %+v", sw.CARotation)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if newRoot == oldRoot {
		t.Fatal("the root did not change")
	}
	// The worker renews again to drop the old root.
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, err := ca.LoadNodeIdentity(dir)
		if err == nil && id.ID.RootDigest == newRoot && !id.Root.Trusts(oldRoot) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker's identity after the rotation: %+v, %v", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range ds {
		if id, _ := d.self.Identity(); id.ID.RootDigest != newRoot {
			t.Fatalf("manager %s's own certificate is of root %s, want %s", d.NodeID(), id.ID.RootDigest, newRoot)
		}
	}
	tx := ds[0].Manager().Store().Read()
	if tk := tx.Task(taskID); tk == nil || tk.Status.State != api.TaskStateRunning {
		t.Fatalf("the worker's task after the rotation: %+v", tk)
	}

	// The old root's certificates: refused on the agent port...
	old, err := agentlink.NewClient(ds[0].AgentAddr(), oldWorker, "127.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, _, _, err := old.Renew(ctx, oldWorker); err == nil {
		t.Fatal("a certificate of the old root renewed on the agent port")
	}
	// ... and on the Raft port, a manager's included.
	for _, d := range ds {
		if err := raftHeartbeatAs(t, oldManager, ds[1].AgentAddr(), d.AgentAddr()); err == nil {
			t.Fatalf("a manager certificate of the old root opened a Raft stream to %s", d.NodeID())
		}
	}
	// The old token names the old root: it admits nobody; the new does.
	if _, _, _, err := agentlink.Join(ctx, ds[0].AgentAddr(), oldToken, "127.0.0.8"); err == nil {
		t.Fatal("the join token of the old root still admits")
	}
	if tok, _ := ca.ParseToken(ds[1].JoinToken()); tok.Digest != newRoot {
		t.Fatalf("the join token names %s, want the new root %s", tok.Digest, newRoot)
	}
	if _, _, _, err := agentlink.Join(context.Background(), ds[1].AgentAddr(), ds[1].JoinToken(), "127.0.0.8"); err != nil {
		t.Fatalf("join with the new token: %v", err)
	}
	if err := c1.ServiceRemove(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	waitStore(t, ctx, ds[0].Manager().Store(), "the task gone", func(tx *state.ReadTx) bool { return len(tx.Tasks()) == 0 })
}

// A rotation goes on across a restart of the manager that started it,
// and a new leader ends it: with the worker stopped (its node holds the
// rotation back), the leader is restarted; the worker, started again,
// moves to the new root, the rotation ends, and the restarted manager
// shows a certificate of the new root.
func TestCARotationResumesAfterARestart(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagersWith(t, ctx, 3, 200*time.Millisecond)
	dir := t.TempDir()
	cfg := AgentConfig{DataDir: dir, Manager: ds[0].AgentAddr(), Token: ds[0].JoinToken(), Addr: "127.0.0.9", Logger: quiet}
	a := startRegistered(t, ctx, cfg)
	a.Close()
	c1, _ := client.New(ds[1].Host())
	if err := c1.RotateCA(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if sw, err := c1.SwarmInspect(ctx); err != nil || !sw.RootRotationInProgress || sw.CARotation == nil || sw.CARotation.Total != 4 || sw.CARotation.Rotated != 0 {
		t.Fatalf("with the worker stopped: %+v, %v; want a rotation under way, 0/4", sw, err)
	}
	dataDir, addr := ds[0].dir.Join(), ds[0].AgentAddr()
	ds[0].Close()
	d0, err := StartDev(ctx, DevConfig{DataDir: dataDir, Logger: quiet, Addr: "127.0.0.1", AgentListen: addr, Docker: false, HeartbeatPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("restart the first manager: %v", err)
	}
	t.Cleanup(func() { d0.Close() })
	cfg.Token, cfg.Manager = "", ds[1].AgentAddr()
	startRegistered(t, ctx, cfg)
	var root string
	for {
		sw, err := c1.SwarmInspect(ctx)
		if err == nil && !sw.RootRotationInProgress {
			r, _ := ca.ParseRootCert([]byte(sw.TLSInfo.TrustRoot))
			root = r.Digest()
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the rotation never ended: %+v, %v", sw, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	waitStore(t, ctx, d0.Manager().Store(), "the end of the rotation on the restarted manager", func(tx *state.ReadTx) bool {
		return !tx.RootCA().Rotating()
	})
	if id, _ := d0.self.Identity(); id.ID.RootDigest != root {
		t.Fatalf("the restarted manager's certificate is of root %s, want %s", id.ID.RootDigest, root)
	}
	id, err := ca.LoadNodeIdentity(dir)
	if err != nil || id.ID.RootDigest != root {
		t.Fatalf("the worker's certificate: %+v, %v; want one of %s", id, err, root)
	}
	// Started again after the end, it starts from the new root, kept in
	// its data folder, before it has caught up with the others.
	d0.Close()
	d0, err = StartDev(ctx, DevConfig{DataDir: dataDir, Logger: quiet, Addr: "127.0.0.1", AgentListen: addr, Docker: false, HeartbeatPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("restart after the rotation: %v", err)
	}
	t.Cleanup(func() { d0.Close() })
	if d0.ca.folder.Digest() != root {
		t.Fatalf("the restarted manager's folder root is %s, want %s", d0.ca.folder.Digest(), root)
	}
}

// Under autolock the folder's join tokens admit nobody; a CA rotation
// keeps it so (its end writes decoys, not the cluster's tokens), and
// they name the new root, so a restart sees no stale token.
func TestCARotationUnderAutolockKeepsDecoyTokens(t *testing.T) {
	ctx := testCtx(t)
	cfg := DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.1", AgentListen: "127.0.0.1:0", Docker: false, Autolock: true}
	d, err := StartDev(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, _ := client.New(d.Host())
	before, err := c.SwarmInspect(ctx)
	if err != nil || !before.Autolock {
		t.Fatalf("autolock: %+v, %v", before, err)
	}
	if err := c.RotateCA(ctx); err != nil {
		t.Fatal(err)
	}
	var after *api.Swarm
	for {
		if after, err = c.SwarmInspect(ctx); err != nil {
			t.Fatal(err)
		}
		if !after.RootRotationInProgress && after.TLSInfo.TrustRoot != before.TLSInfo.TrustRoot {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the rotation did not end")
		case <-time.After(50 * time.Millisecond):
		}
	}
	root, err := ca.ParseRootCert([]byte(after.TLSInfo.TrustRoot))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ file, cluster string }{{"join-token", after.JoinTokens.Worker}, {managerTokenFile, after.JoinTokens.Manager}} {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, f.file))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ca.ParseToken(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if tok.String() == f.cluster {
			t.Errorf("%s holds the cluster's token under autolock", f.file)
		}
		if tok.Digest != root.Digest() {
			t.Errorf("%s names root %s, not the new %s", f.file, tok.Digest, root.Digest())
		}
	}
}

// A worker promoted while a CA rotation is under way (held back by a
// worker that is down) becomes a manager: it renews with both roots,
// its certificate is of the new one, and the managers' answer names the
// old root the tokens name. After the rotation ends (the down worker
// removed) it still joins writes through the cluster port.
func TestPromoteDuringCARotation(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.1", AgentListen: "127.0.0.1:0", Docker: false, HeartbeatPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, _ := client.New(d.Host())
	down := startRegistered(t, ctx, AgentConfig{DataDir: t.TempDir(), Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.3", Logger: quiet, Hostname: "down"})
	downID := down.NodeID()
	down.Close()
	acfg := AgentConfig{DataDir: t.TempDir(), Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2", Logger: quiet,
		Hostname: "worker-1", ListenAddr: testutil.FreeAddr(t, "127.0.0.2")}
	a := startRegistered(t, ctx, acfg)
	before, err := c.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RotateCA(ctx); err != nil {
		t.Fatal(err)
	}
	sw, err := c.SwarmInspect(ctx)
	if err != nil || !sw.RootRotationInProgress {
		t.Fatalf("rotation: %+v, %v", sw, err)
	}
	if err := c.NodePromote(ctx, a.NodeID()); err != nil {
		t.Fatal(err)
	}
	waitPromoted(t, ctx, a)
	p, err := StartPromoted(ctx, a, acfg)
	if err != nil {
		t.Fatalf("start the manager of a node promoted during a CA rotation: %v", err)
	}
	defer p.Close()
	pc, _ := client.New(p.Host())
	if _, err := pc.ConfigCreate(ctx, api.ConfigSpec{Name: "during", Data: []byte("x")}); err != nil {
		t.Fatalf("write through the promoted manager during the rotation: %v", err)
	}
	if sw, err := c.SwarmInspect(ctx); err != nil || !sw.RootRotationInProgress {
		t.Fatalf("the down worker should hold the rotation: %+v, %v", sw, err)
	}
	if err := c.NodeRemove(ctx, downID, true); err != nil {
		t.Fatal(err)
	}
	for {
		sw, err := c.SwarmInspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !sw.RootRotationInProgress && sw.TLSInfo.TrustRoot != before.TLSInfo.TrustRoot {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the rotation did not end")
		case <-time.After(50 * time.Millisecond):
		}
	}
	waitStore(t, ctx, p.Manager().Store(), "the promoted manager applied the end", func(tx *state.ReadTx) bool {
		return !tx.RootCA().Rotating()
	})
	if _, err := pc.ConfigCreate(ctx, api.ConfigSpec{Name: "after", Data: []byte("x")}); err != nil {
		t.Fatalf("write through the promoted manager after the rotation: %v", err)
	}
}
