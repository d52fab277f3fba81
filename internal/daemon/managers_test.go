package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
)

// startManagers starts n managers in this process on 127.0.0.1..n, the
// first bootstrapping, the others joining it with the manager token.
func startManagers(t *testing.T, ctx context.Context, n int) []*Dev {
	t.Helper()
	return startManagersWith(t, ctx, n, 0)
}

func startManagersWith(t *testing.T, ctx context.Context, n int, heartbeat time.Duration) []*Dev {
	return startManagersVia(t, ctx, n, heartbeat, func(int) int { return 0 })
}

// startManagersVia starts n managers, manager i joining through manager
// via(i).
func startManagersVia(t *testing.T, ctx context.Context, n int, heartbeat time.Duration, via func(i int) int) []*Dev {
	t.Helper()
	var ds []*Dev
	for i := range n {
		addr := "127.0.0." + string(rune('1'+i))
		cfg := DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: addr, AgentListen: addr + ":0", Docker: false, HeartbeatPeriod: heartbeat}
		if i > 0 {
			cfg.Join, cfg.JoinToken = ds[via(i)].AgentAddr(), ds[via(i)].ManagerToken()
		}
		d, err := StartDev(ctx, cfg)
		if err != nil {
			t.Fatalf("manager %d: %v", i, err)
		}
		t.Cleanup(func() { d.Close() })
		ds = append(ds, d)
	}
	return ds
}

func secretSpec(name string) api.SecretSpec {
	return api.SecretSpec{Name: name, Data: []byte("s3cret " + name)}
}

// A manager that joins through a follower is added to Raft under its own
// node ID and address. The follower used to forward the request with its
// own certificate, so the leader moved the follower's entry to the new
// manager's address and never added the new one.
func TestManagerJoinsThroughAFollower(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagersVia(t, ctx, 3, 0, func(i int) int { return i - 1 })
	// Whichever leads (a loaded machine may move the leadership), and
	// two followers.
	var lead *Dev
	var followers []*Dev
	for _, d := range ds {
		if d.Manager().IsLeader() && lead == nil {
			lead = d
		} else {
			followers = append(followers, d)
		}
	}
	if lead == nil {
		t.Fatal("no manager leads")
	}
	members, err := lead.Manager().Raft().Members()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range members {
		got[m.ID] = m.Addr
	}
	for i, d := range ds {
		if got[d.NodeID()] != d.AgentAddr() {
			t.Errorf("manager %d (%s at %s): raft has %q; members %v", i, d.NodeID(), d.AgentAddr(), got[d.NodeID()], members)
		}
	}
	if len(members) != 3 {
		t.Errorf("raft members %v, want 3", members)
	}

	// A demoted manager still holds a manager certificate, but not the
	// role: it cannot put itself back in Raft, nor write through the
	// managers' paths.
	demoted := followers[1]
	c0, _ := client.New(lead.Host())
	if err := c0.NodeDemote(ctx, demoted.NodeID()); err != nil {
		t.Fatal(err)
	}
	hc2 := &http.Client{Transport: demoted.peerTransport()}
	for path, body := range map[string]string{pathMembers: `{"Addr":"` + demoted.AgentAddr() + `"}`, pathAPI + "/v1/secrets": `{"Name":"planted","Data":"eA=="}`} {
		if err := postJSON(ctx, hc2, "https://"+lead.AgentAddr()+path, []byte(body), nil); err == nil || !strings.Contains(err.Error(), "(403)") {
			t.Errorf("demoted manager: POST %s: %v, want 403", path, err)
		}
	}
	if members, _ := lead.Manager().Raft().Members(); len(members) != 2 {
		t.Errorf("raft members after the demoted manager asked back in: %v, want 2", members)
	}

	// A write forwarded by a follower names the same object as on the
	// leader: "db?x" is not "db" (the decoded path was sent as a URL, so
	// "?x" became its query).
	c2, _ := client.New(followers[0].Host())
	if _, err := c2.SecretCreate(ctx, secretSpec("db")); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", strings.TrimPrefix(followers[0].Host(), "unix://"))
	}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, "http://shoal/v1/secrets/db%3Fx", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE /v1/secrets/db%%3Fx through a follower: %d, want 404", resp.StatusCode)
	}
	if _, err := c2.SecretInspect(ctx, "db"); err != nil {
		t.Errorf("secret db after deleting db?x: %v", err)
	}
}

// Three managers form one Raft group over mutual TLS: a write sent to a
// follower is forwarded to the leader, every manager can decrypt the
// secrets and issue certificates (they share the cluster's secrets), and
// once the leader is gone the other two elect a new one and take writes
// through either of them.
func TestThreeManagersFailOver(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagers(t, ctx, 3)
	members, err := ds[2].Manager().Raft().Members()
	if err != nil || len(members) != 3 {
		t.Fatalf("raft members %v (%v), want 3", members, err)
	}
	leader := -1
	for i, d := range ds {
		if d.Manager().IsLeader() {
			leader = i
		}
	}
	if leader != 0 {
		t.Fatalf("leader is manager %d, want the first", leader)
	}
	// A write on a follower is forwarded to the leader.
	c2, _ := client.New(ds[2].Host())
	sec, err := c2.SecretCreate(ctx, secretSpec("db"))
	if err != nil {
		t.Fatalf("secret create via a follower: %v", err)
	}
	waitStore(t, ctx, ds[1].Manager().Store(), "the secret on manager 1", func(tx *state.ReadTx) bool { return tx.Secret(sec.ID) != nil })
	// Every manager holds the key that opens it.
	for i, d := range ds {
		s := d.Manager().Store().Read().Secret(sec.ID)
		if s == nil {
			continue
		}
		if _, err := d.Manager().SecretKey().Open(s.Spec.Data, secretkey.SecretContext(s.ID)); err != nil {
			t.Fatalf("manager %d cannot decrypt the secret: %v", i, err)
		}
		if !d.issuer.Root.CanSign() || d.issuer.Root.Digest() != ds[0].issuer.Root.Digest() {
			t.Fatalf("manager %d does not hold the cluster CA", i)
		}
	}
	// Every manager's node registers (through the leader's dispatcher).
	waitStore(t, ctx, ds[0].Manager().Store(), "three ready manager nodes", func(tx *state.ReadTx) bool {
		n := 0
		for _, node := range tx.Nodes() {
			if node.Spec.Role == api.RoleManager && node.Status.State == api.NodeStateReady {
				n++
			}
		}
		return n == 3
	})

	// A worker joins through a follower, and registers with the leader
	// that follower names.
	a := startRegistered(t, ctx, AgentConfig{DataDir: t.TempDir(), Manager: ds[2].AgentAddr(), Token: ds[0].JoinToken(), Addr: "127.0.0.9",
		Hostname: "worker-1", Logger: quiet})
	before := ds[1].Manager().Store().Read().Node(a.NodeID())
	if before == nil {
		waitStore(t, ctx, ds[1].Manager().Store(), "the worker node", func(tx *state.ReadTx) bool { return tx.Node(a.NodeID()) != nil })
		before = ds[1].Manager().Store().Read().Node(a.NodeID())
	}

	ds[0].Close()
	c1, _ := client.New(ds[1].Host())
	var created bool
	for !created {
		_, err := c1.SecretCreate(ctx, secretSpec("after"))
		switch {
		case err == nil:
			created = true
		case strings.Contains(err.Error(), "already exists"):
			// An earlier try, answered as failed while the leadership
			// moved, was written after all: allowed (it said it may be).
			created = true
		case ctx.Err() != nil:
			t.Fatalf("no write after the leader went: %v", err)
		case !strings.Contains(err.Error(), "leader") && !strings.Contains(err.Error(), "quorum"):
			t.Fatalf("write after the leader went: %v", err)
		}
	}
	if !ds[1].Manager().IsLeader() && !ds[2].Manager().IsLeader() {
		t.Fatal("no new leader")
	}
	// The worker moves to the new leader and registers there again.
	newLeader, other := ds[1], ds[2]
	if ds[2].Manager().IsLeader() {
		newLeader, other = ds[2], ds[1]
	}
	waitStore(t, ctx, newLeader.Manager().Store(), "the worker registered with the new leader", func(tx *state.ReadTx) bool {
		n := tx.Node(a.NodeID())
		return n != nil && n.Version > before.Version && n.Status.State == api.NodeStateReady && a.link.Addr() == newLeader.AgentAddr()
	})

	// One of two left: no quorum, and a write says so in bounded time.
	newLeader.Close()
	co, _ := client.New(other.Host())
	_, err = co.SecretCreate(ctx, secretSpec("lost"))
	if err == nil || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("write without quorum: %v, want a no quorum error", err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the no-quorum answer took the whole test budget")
	}
}

// The managers' paths on the cluster port: the worker token does not
// join a manager (nor does a token of nothing), and a worker's
// certificate, or none, cannot add itself to Raft nor send writes as a
// forwarding manager would.
func TestManagerPathsRefuseWorkers(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := joinManager(ctx, d.AgentAddr(), d.JoinToken()); err == nil || !strings.Contains(err.Error(), "a worker token joins workers") {
		t.Fatalf("manager join with the worker token: %v", err)
	}

	certPEM, keyPEM, caPEM, err := agentlink.Join(ctx, d.AgentAddr(), d.JoinToken(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	worker, err := ca.NewNodeIdentity(certPEM, keyPEM, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	noCert := ca.ClientConfig(worker)
	noCert.Certificates = nil
	for name, conf := range map[string]*tls.Config{"worker": ca.ClientConfig(worker), "no certificate": noCert} {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
		for _, path := range []string{pathMembers, pathAPI + "/v1/secrets"} {
			body := `{"Addr":"127.0.0.1:1"}`
			if path != pathMembers {
				body = `{"Name":"planted","Data":"eA=="}`
			}
			err := postJSON(ctx, hc, "https://"+d.AgentAddr()+path, []byte(body), nil)
			if err == nil || !strings.Contains(err.Error(), "(403)") {
				t.Errorf("%s: POST %s: %v, want 403", name, path, err)
			}
		}
		hc.CloseIdleConnections()
	}
	if members, _ := d.Manager().Raft().Members(); len(members) != 1 {
		t.Fatalf("raft members %v, want this manager alone", members)
	}
	if d.Manager().Store().Read().SecretByName("planted") != nil {
		t.Fatal("a worker wrote a secret through the managers' path")
	}
}

// A dev folder made without a cluster port (Raft address "local") gets
// one later: its leader puts the port in the Raft configuration, where
// joining managers will dial it.
func TestDevFolderGetsAClusterPort(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	d, err := StartDev(ctx, DevConfig{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = StartDev(ctx, DevConfig{DataDir: dir, Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	members, err := d.Manager().Raft().Members()
	if err != nil || len(members) != 1 || members[0].Addr != d.AgentAddr() {
		t.Fatalf("raft members %v (%v), want this manager at %s", members, err, d.AgentAddr())
	}
}

// node demote changes Raft one manager at a time: it refuses a change
// that would leave the managers that are up short of a majority, removes
// a manager that is down, hands the leadership over before the leader
// leaves, and refuses to demote the last manager.
func TestDemoteManagers(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagersWith(t, ctx, 3, 200*time.Millisecond)
	ids := []string{ds[0].NodeID(), ds[1].NodeID(), ds[2].NodeID()}
	ds[2].Close()
	waitStore(t, ctx, ds[0].Manager().Store(), "the third manager's node down", func(tx *state.ReadTx) bool {
		n := tx.Node(ids[2])
		return n != nil && n.Status.State == api.NodeStateDown
	})
	c0, _ := client.New(ds[0].Host())
	if err := c0.NodeDemote(ctx, ids[1]); err == nil || !strings.Contains(err.Error(), "loss of quorum") {
		t.Fatalf("demote a live manager while another is down: %v, want a loss of quorum refusal", err)
	}
	// A manager is not removed, even down, even with --force: it is
	// demoted first, as in Swarm.
	for _, force := range []bool{false, true} {
		if err := c0.NodeRemove(ctx, ids[2], force); err == nil || !strings.Contains(err.Error(), "must be demoted to worker before removal") {
			t.Fatalf("rm (force %v) of a manager: %v, want 'demote first'", force, err)
		}
	}
	if err := c0.NodeDemote(ctx, ids[2]); err != nil {
		t.Fatalf("demote the manager that is down: %v", err)
	}
	if members, _ := ds[0].Manager().Raft().Members(); len(members) != 2 {
		t.Fatalf("raft members %v, want 2", members)
	}
	if n := ds[0].Manager().Store().Read().Node(ids[2]); n.Spec.Role != api.RoleWorker {
		t.Fatalf("demoted node's role %q", n.Spec.Role)
	}
	// Demoted, it is removed like any down worker.
	if err := c0.NodeRemove(ctx, ids[2], false); err != nil {
		t.Fatalf("rm of the demoted manager: %v", err)
	}
	if ds[0].Manager().Store().Read().Node(ids[2]) != nil {
		t.Fatal("the removed node is still in the store")
	}
	// The leader demotes itself: the leadership moves first.
	if err := c0.NodeDemote(ctx, "self"); err != nil {
		t.Fatalf("demote the leader: %v", err)
	}
	members, _ := ds[1].Manager().Raft().Members()
	if len(members) != 1 || members[0].ID != ids[1] || !ds[1].Manager().IsLeader() {
		t.Fatalf("raft members %v (leader: %v), want the second manager alone, leading", members, ds[1].Manager().IsLeader())
	}
	c1, _ := client.New(ds[1].Host())
	if err := c1.NodeDemote(ctx, ids[1]); err == nil || !strings.Contains(err.Error(), "last manager") {
		t.Fatalf("demote the last manager: %v", err)
	}
}

// A manager that joins and fails to start after it was added to Raft is
// no voter the others count on for their majority: it joined as a
// non-voter. Started again on its folder (without --join), it becomes a
// voter; given up, `node demote` of its ID takes it out of Raft. (It used
// to be added as a voter at once: 2 live managers of 3 voters.)
func TestJoinerThatFailsToStartIsNoVoter(t *testing.T) {
	t.Run("started again", func(t *testing.T) { joinerFailsToStart(t, false) })
	t.Run("demoted", func(t *testing.T) { joinerFailsToStart(t, true) })
}

func joinerFailsToStart(t *testing.T, removed bool) {
	ctx := testCtx(t)
	ds := startManagers(t, ctx, 2)
	dir := t.TempDir()
	notAFolder := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(notAFolder, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The same cluster port both times: Raft knows a manager by it.
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().String()
	ln.Close()
	cfg := DevConfig{DataDir: dir, Logger: quiet, Addr: "127.0.0.3", AgentListen: port, Docker: false,
		Join: ds[0].AgentAddr(), JoinToken: ds[0].ManagerToken(), SecretsDir: notAFolder}
	if d, err := StartDev(ctx, cfg); err == nil {
		d.Close()
		t.Fatal("a manager whose secrets folder is a file started")
	}
	b, err := os.ReadFile(filepath.Join(dir, "node-id"))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(b))
	lead := ds[0]
	if !lead.Manager().IsLeader() {
		lead = ds[1]
	}
	if members, _ := lead.Manager().Raft().Members(); len(members) != 2 {
		t.Fatalf("after the failed start, %d voters (%v), want the 2 live managers", len(members), members)
	}
	if nv, err := lead.Manager().Raft().Nonvoter(id); !nv || err != nil {
		t.Fatalf("the failed manager is not a non-voter of Raft: %v %v", nv, err)
	}
	if removed {
		// Given up: demoting its ID (from its folder's node-id; it has no
		// node) takes it out of Raft.
		c, _ := client.New(lead.Host())
		if err := c.NodeDemote(ctx, id); err != nil {
			t.Fatalf("demote the non-voter: %v", err)
		}
		if nv, err := lead.Manager().Raft().Nonvoter(id); nv || err != nil {
			t.Fatalf("still a non-voter after its demotion: %v", err)
		}
		return
	}
	// Started again as `shoal dev` on its folder, without --join: it
	// finds the leader itself to finish its join.
	cfg.SecretsDir, cfg.Join, cfg.JoinToken = "", "", ""
	d, err := StartDev(ctx, cfg)
	if err != nil {
		t.Fatalf("start again: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if members, _ := lead.Manager().Raft().Members(); len(members) != 3 {
		t.Fatalf("after it started, %d voters (%v), want 3", len(members), members)
	}
}
