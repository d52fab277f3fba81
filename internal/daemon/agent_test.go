package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCtx(t *testing.T) context.Context {
	t.Helper()
	// Bounds every wait, so a bug fails a test instead of hanging it; not
	// a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitStore waits until cond holds on the store, re-checking on every
// change.
func waitStore(t *testing.T, ctx context.Context, s *state.Store, what string, cond func(*state.ReadTx) bool) {
	t.Helper()
	tx, sub := s.Subscribe()
	defer sub.Close()
	for !cond(tx) {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		tx = s.Read()
	}
}

// startRegistered starts an agent with cfg and waits until it registered;
// it is closed when the test ends.
func startRegistered(t *testing.T, ctx context.Context, cfg AgentConfig) *Agent {
	t.Helper()
	a, err := StartAgent(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	waitRegistered(t, ctx, a)
	return a
}

// waitRegistered waits until a registered.
func waitRegistered(t *testing.T, ctx context.Context, a *Agent) {
	t.Helper()
	select {
	case <-a.Registered():
	case <-a.Done():
		t.Fatalf("agent stopped: %v", a.Err())
	case <-ctx.Done():
		t.Fatal("agent never registered")
	}
}

// An agent in this process joins a dev cluster over its TCP agent port,
// runs the tasks placed on it, follows the routes, and leaves no
// goroutine behind when both close.
func TestAgentJoinsDevOverTCP(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !strings.HasPrefix(d.AgentAddr(), "127.0.0.1:") {
		t.Fatalf("agent address %q", d.AgentAddr())
	}
	tok, err := os.ReadFile(filepath.Join(d.DataDir(), "join-token"))
	if err != nil || strings.TrimSpace(string(tok)) != d.JoinToken() {
		t.Fatalf("join token file %q (%v), want %q", tok, err, d.JoinToken())
	}
	a := startRegistered(t, ctx, AgentConfig{DataDir: t.TempDir(), Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2",
		Hostname: "worker-1", Labels: map[string]string{"zone": "b"}, Logger: quiet, Ingress: IngressConfig{Addr: "127.0.0.2:0"}})
	n := d.Manager().Store().Read().Node(a.NodeID())
	if n == nil || n.Spec.Role != api.RoleWorker || n.Description.Hostname != "worker-1" || n.Description.EngineLabels["zone"] != "b" || n.Status.Addr != "127.0.0.2" {
		t.Fatalf("agent's node %+v", n)
	}

	c, err := client.New(d.Host())
	if err != nil {
		t.Fatal(err)
	}
	// Only the worker may run it.
	spec := api.ServiceSpec{Name: "web", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "1000"}},
			Placement: &api.Placement{Constraints: []string{"engine.labels.zone==b"}}}}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitStore(t, ctx, d.Manager().Store(), "2 tasks running on the worker", func(tx *state.ReadTx) bool {
		n := 0
		for _, tk := range tx.TasksByNode(a.NodeID()) {
			if tk.Status.State == api.TaskStateRunning {
				n++
			}
		}
		return n == 2
	})
	// Logs of another node's tasks come from its agent, over its link
	// (sleep prints nothing: the answer is empty, without an error).
	tk := d.Manager().Store().Read().TasksByNode(a.NodeID())[0]
	if err := d.TaskLogs(ctx, tk, api.LogOptions{Tail: -1}, io.Discard); err != nil {
		t.Errorf("logs of a worker's task: %v", err)
	}

	if err := c.ServiceRemove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	waitStore(t, ctx, d.Manager().Store(), "the tasks gone", func(tx *state.ReadTx) bool { return len(tx.Tasks()) == 0 })
}

// An agent with a wrong token does not start: it says why, and keeps no
// certificate. One whose token names another cluster's CA stops at the
// TLS handshake, before it sends the token.
func TestAgentWithWrongTokenStops(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tok, err := ca.ParseToken(d.JoinToken())
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.NewRootCA("other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, token, want string }{
		{"malformed", "SHOALTKN-1-nope", "invalid join token"},
		{"wrong secret", ca.Token{Digest: tok.Digest, Secret: strings.Repeat("0", 25)}.String(), "join token rejected"},
		{"another cluster's CA", ca.Token{Digest: other.Digest(), Secret: tok.Secret}.String(), "not the one the join token names"},
	} {
		dataDir := t.TempDir()
		a, err := StartAgent(ctx, AgentConfig{DataDir: dataDir, Manager: d.AgentAddr(), Token: c.token, Addr: "127.0.0.2", Logger: quiet})
		if err == nil {
			a.Close()
			t.Fatalf("%s: the agent started", c.name)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if c.name != "another cluster's CA" && !errors.Is(err, agent.ErrRejected) {
			t.Errorf("%s: %v does not wrap agent.ErrRejected", c.name, err)
		}
		if _, err := os.Stat(filepath.Join(dataDir, ca.NodeCertFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a certificate was kept (%v)", c.name, err)
		}
	}
	if n := len(d.Manager().Store().Read().Nodes()); n != 1 {
		t.Fatalf("%d nodes, want the manager's alone", n)
	}
}

// A restarted agent reconnects with the certificate it kept, without the
// token, as the same node.
func TestAgentRestartsWithoutToken(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dataDir := t.TempDir()
	start := func(token string) *Agent {
		t.Helper()
		a, err := StartAgent(ctx, AgentConfig{DataDir: dataDir, Manager: d.AgentAddr(), Token: token, Addr: "127.0.0.2", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		waitRegistered(t, ctx, a)
		return a
	}
	a := start(d.JoinToken())
	first := a.NodeID()
	a.Close()
	for _, name := range []string{ca.NodeCertFile, ca.NodeKeyFile, ca.RootCertFile} {
		if fi, err := os.Stat(filepath.Join(dataDir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, want mode 0600", name, err)
		}
	}
	b := start("")
	defer b.Close()
	if b.NodeID() != first {
		t.Fatalf("restarted as node %s, want %s", b.NodeID(), first)
	}
}

// The cluster CA and the join token outlive a manager restart, so that
// nodes keep their certificates and the token printed once keeps working.
func TestCAOutlivesRestart(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	d, err := StartDev(ctx, DevConfig{DataDir: dir, Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	tok, root := d.JoinToken(), d.issuer.Root.Digest()
	d.Close()
	d, err = StartDev(ctx, DevConfig{DataDir: dir, Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.JoinToken() != tok || d.issuer.Root.Digest() != root {
		t.Fatalf("after a restart: token %s, CA %s; want %s, %s", d.JoinToken(), d.issuer.Root.Digest(), tok, root)
	}
}

// --cert-expiry sets the life of the certificates agents get.
func TestCertExpiry(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0", CertExpiry: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dataDir := t.TempDir()
	a, err := StartAgent(ctx, AgentConfig{DataDir: dataDir, Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	id, err := ca.LoadNodeIdentity(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(id.Cert.Leaf.NotAfter); left > 2*time.Hour || left < 2*time.Hour-time.Minute {
		t.Fatalf("certificate valid for %s more, want 2h", left)
	}
	if _, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, CertExpiry: time.Minute}); err == nil || !strings.Contains(err.Error(), "under the minimum") {
		t.Fatalf("dev with a 1m certificate expiry: %v", err)
	}
}
