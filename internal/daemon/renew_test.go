package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
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
