package daemon

import (
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
)

// An agent whose certificates last 4 seconds renews them over the link
// before they expire and keeps working past the first one's expiry: its
// heartbeats (every 300ms, on new requests with the new certificate) are
// still taken, its node stays ready, the renewed certificate is the same
// node's, kept 0600, and a restart from the data folder, long after the
// first certificate expired, registers again without a token.
func TestAgentRenewsItsCertificate(t *testing.T) {
	defer ca.SetMinExpiryForTesting(time.Second)()
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0", CertExpiry: 4 * time.Second, HeartbeatPeriod: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dir := t.TempDir()
	a := startRegistered(t, ctx, AgentConfig{DataDir: dir, Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2", Logger: quiet})
	first, err := ca.LoadNodeIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Past the first certificate's end, by a whole life more.
	select {
	case <-time.After(time.Until(first.Cert.Leaf.NotAfter) + 4*time.Second):
	case <-a.Done():
		t.Fatalf("agent stopped: %v", a.Err())
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	now, err := ca.LoadNodeIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !now.Cert.Leaf.NotAfter.After(time.Now()) || now.ID.NodeID != a.NodeID() || now.ID.Role != ca.RoleWorker {
		t.Fatalf("certificate on disk: node %s role %s until %s, want a valid one of worker %s", now.ID.NodeID, now.ID.Role, now.Cert.Leaf.NotAfter, a.NodeID())
	}
	for _, name := range []string{ca.NodeCertFile, ca.NodeKeyFile} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, want mode 0600", name, err)
		}
	}
	n := d.Manager().Store().Read().Node(a.NodeID())
	if n == nil || n.Status.State != api.NodeStateReady {
		t.Fatalf("node after the first certificate expired: %+v", n)
	}
	a.Close()
	b := startRegistered(t, ctx, AgentConfig{DataDir: dir, Manager: d.AgentAddr(), Addr: "127.0.0.2", Logger: quiet})
	if b.NodeID() != a.NodeID() {
		t.Fatalf("restarted as %s, want %s", b.NodeID(), a.NodeID())
	}
	waitStore(t, ctx, d.Manager().Store(), "the node ready again", func(tx *state.ReadTx) bool {
		n := tx.Node(b.NodeID())
		return n != nil && n.Status.State == api.NodeStateReady
	})
}

// The certificate life is the cluster's, set by its first manager: a
// worker joining through a manager started without --cert-expiry gets
// it, and a manager that names another one is refused.
func TestCertExpiryIsTheClusters(t *testing.T) {
	ctx := testCtx(t)
	first, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.1", AgentListen: "127.0.0.1:0", Docker: false, CertExpiry: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.2", AgentListen: "127.0.0.2:0", Docker: false,
		Join: first.AgentAddr(), JoinToken: first.ManagerToken()})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	dir := t.TempDir()
	a := startRegistered(t, ctx, AgentConfig{DataDir: dir, Manager: second.AgentAddr(), Token: second.JoinToken(), Addr: "127.0.0.9", Logger: quiet})
	a.Close()
	id, err := ca.LoadNodeIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(id.Cert.Leaf.NotAfter); left > 2*time.Hour || left < 2*time.Hour-time.Minute {
		t.Fatalf("a certificate from the second manager is valid %s more, want the cluster's 2h", left)
	}
	third, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.3", AgentListen: "127.0.0.3:0", Docker: false,
		Join: first.AgentAddr(), JoinToken: first.ManagerToken(), CertExpiry: 3 * time.Hour})
	if err == nil {
		third.Close()
		t.Fatal("a manager with another certificate expiry started")
	}
	if !strings.Contains(err.Error(), "certificate expiry is 2h0m0s") {
		t.Fatalf("a manager with another certificate expiry: %v", err)
	}
}

// `swarm update --cert-expiry`, sent to a follower, changes the life of
// the certificates every manager issues: the two managers show it, a
// worker's next renewal through the follower gets it, and the
// managers' own certificates too; a manager restarted with the old
// --cert-expiry is refused, without it taken.
func TestSwarmUpdateCertExpiry(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagers(t, ctx, 2)
	dir := t.TempDir()
	a := startRegistered(t, ctx, AgentConfig{DataDir: dir, Manager: ds[1].AgentAddr(), Token: ds[1].JoinToken(), Addr: "127.0.0.9", Logger: quiet})
	defer a.Close()
	c1, _ := client.New(ds[1].Host())
	if _, err := c1.SwarmUpdate(ctx, api.SwarmUpdate{CAConfig: api.CAConfig{NodeCertExpiry: time.Minute}}); err == nil || !strings.Contains(err.Error(), "under the minimum") {
		t.Fatalf("a 1m expiry: %v, want refused", err)
	}
	if _, err := c1.SwarmUpdate(ctx, api.SwarmUpdate{CAConfig: api.CAConfig{NodeCertExpiry: 3 * time.Hour}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		waitStore(t, ctx, d.Manager().Store(), "the new expiry", func(tx *state.ReadTx) bool { return tx.CertExpiry() == 3*time.Hour })
		c, _ := client.New(d.Host())
		if sw, err := c.SwarmInspect(ctx); err != nil || sw.Spec.CAConfig.NodeCertExpiry != 3*time.Hour {
			t.Fatalf("swarm inspect on %s: %+v, %v", d.NodeID(), sw, err)
		}
	}
	id, err := ca.LoadNodeIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(id.Cert.Leaf.NotAfter); left < 80*24*time.Hour {
		t.Fatalf("the worker's first certificate is valid %s more, want the default 90 days", left)
	}
	lc, err := agentlink.NewClient(ds[1].AgentAddr(), id, "127.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	next, _, _, err := lc.Renew(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(next.Cert.Leaf.NotAfter); left > 3*time.Hour || left < 3*time.Hour-time.Minute {
		t.Fatalf("a renewed certificate is valid %s more, want the cluster's new 3h", left)
	}
	self, err := ca.NewSelfCert(ds[0].issuer.Root, "manager0000000000000000009", nil, ds[0].issuer.CurrentExpiry)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := self.Identity(); time.Until(cur.Cert.Leaf.NotAfter) > 3*time.Hour {
		t.Fatalf("a manager's own certificate is valid until %s, want the cluster's 3h", cur.Cert.Leaf.NotAfter)
	}
	// A restart naming the old life is refused; without the flag, taken.
	dataDir := ds[1].dir.Join()
	ds[1].Close()
	cfg := DevConfig{DataDir: dataDir, Logger: quiet, Addr: "127.0.0.2", AgentListen: ds[1].AgentAddr(), Docker: false, CertExpiry: ca.DefaultCertExpiry}
	if d, err := StartDev(ctx, cfg); err == nil {
		d.Close()
		t.Fatal("a manager naming the old certificate expiry started")
	} else if !strings.Contains(err.Error(), "swarm update --cert-expiry") {
		t.Fatalf("a manager naming the old certificate expiry: %v", err)
	}
	cfg.CertExpiry = 0
	d, err := StartDev(ctx, cfg)
	if err != nil {
		t.Fatalf("restart without --cert-expiry: %v", err)
	}
	d.Close()
}
