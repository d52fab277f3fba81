//go:build linux

package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/process"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
)

// runAgent runs an agent with cfg until the test ends, then calls done
// (which closes its runtime).
func runAgent(t *testing.T, cfg agent.Config, done func()) {
	a := agent.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("agent Run: %v", err)
		}
		done()
	})
}

// A task's configs and secrets reach the runtime as files: the process
// runtime puts them under $SHOAL_FILES.
func TestTaskGetsItsConfigsAndSecrets(t *testing.T) {
	shm := testutil.ShmDir(t)

	e := newEnv(t)
	e.must(
		state.Op{Kind: state.OpCreateConfig, Config: &api.Config{ID: "cfg1", Spec: api.ConfigSpec{Name: "app.yml", Data: []byte("a: 1")}}},
		// No key in this dispatcher: the secret is handed over as stored.
		state.Op{Kind: state.OpCreateSecret, Secret: &api.Secret{ID: "sec1", Spec: api.SecretSpec{Name: "db", Data: []byte("pw")}}},
	)
	rt, err := process.Open(process.Options{Root: e.root, NodeAddr: "127.0.0.1", SecretsRoot: shm})
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, agent.Config{NodeID: nodeID, Addr: "127.0.0.1", Runtimes: []runtime.Runtime{rt}, Manager: manager{e.d}, Logger: quiet}, func() { rt.Close() })

	spec := cmd("/bin/sh", "-c", `cat "$SHOAL_FILES/etc/app.yml" "$SHOAL_FILES/run/secrets/db"; exec sleep 60`)
	spec.Configs = []api.ConfigReference{{ConfigName: "app.yml", ConfigID: "cfg1", File: &api.FileTarget{Name: "/etc/app.yml"}}}
	spec.Secrets = []api.SecretReference{{SecretName: "db", SecretID: "sec1"}}
	tk := e.assignTask(spec)
	e.waitState(tk.ID, api.TaskStateRunning)
	stdout, _, err := rt.LogPaths(tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for deadline := time.Now().Add(testTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if out, _ = os.ReadFile(stdout); strings.Contains(string(out), "pw") {
			break
		}
	}
	if string(out) != "a: 1pw" {
		t.Fatalf("task printed %q, want its config and secret", out)
	}
	if fi, err := os.Stat(filepath.Join(shm, nodeID, tk.ID)); err != nil || !fi.IsDir() {
		t.Fatalf("secrets folder: %v", err)
	}
	e.shutdown(tk.ID)
	e.waitState(tk.ID, api.TaskStateShutdown)
	if _, err := os.Stat(filepath.Join(shm, nodeID, tk.ID)); !os.IsNotExist(err) {
		t.Errorf("secrets folder after the task stopped: %v", err)
	}
	// The configs go too, though the stopped task is kept (as history)
	// until the managers delete it.
	if _, err := os.Stat(filepath.Join(e.root, tk.ID, "files")); !os.IsNotExist(err) {
		t.Errorf("configs folder after the task stopped: %v", err)
	}

	// A task naming a config the node was not given is rejected.
	missing := cmd("sleep", "60")
	missing.Configs = []api.ConfigReference{{ConfigName: "nope"}}
	tk2 := e.assignTask(missing)
	got := e.waitState(tk2.ID, api.TaskStateRejected)
	if !strings.Contains(got.Status.Err, `config "nope" is not available on this node`) {
		t.Fatalf("rejected with %q", got.Status.Err)
	}
}
