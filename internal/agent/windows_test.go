//go:build linux

package agent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/process"
	"github.com/shoalproject/shoal/internal/runtime/winjob"
	"github.com/shoalproject/shoal/internal/runtime/winproc"
	"github.com/shoalproject/shoal/internal/state"
)

// windowsRuntime stands in for a Windows node's runtime on Linux: it
// checks the files it is handed as a Windows node does, records them, and
// runs the task's command without them (they are not Linux paths).
type windowsRuntime struct {
	*process.Runtime
	files chan []runtime.File
}

func (r windowsRuntime) Start(ctx context.Context, spec runtime.TaskSpec) (runtime.Handle, error) {
	seen := map[string]bool{}
	for _, f := range spec.Files {
		if err := f.CheckTargetOn("windows", seen); err != nil {
			return runtime.Handle{}, err
		}
	}
	r.files <- spec.Files
	spec.Files = nil
	return r.Runtime.Start(ctx, spec)
}

// A Windows agent's assignment path: it registers as windows without
// networks, the scheduler's platform constraint matches it, and a task of
// the seed's signup-web reaches its runtime with its config and secret at
// their Windows targets.
func TestWindowsAgentGetsWindowsTargets(t *testing.T) {
	e := newEnv(t)
	e.must(
		state.Op{Kind: state.OpCreateConfig, Config: &api.Config{ID: "cfg1", Spec: api.ConfigSpec{Name: "signup-web-appsettings", Data: []byte("{}")}}},
		state.Op{Kind: state.OpCreateSecret, Secret: &api.Secret{ID: "sec1", Spec: api.SecretSpec{Name: "signup-web-connectionstrings", Data: []byte("pw")}}},
		state.Op{Kind: state.OpCreateSecret, Secret: &api.Secret{ID: "sec2", Spec: api.SecretSpec{Name: "db", Data: []byte("pw")}}},
	)
	prt, err := process.New(e.root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rt := windowsRuntime{Runtime: prt, files: make(chan []runtime.File, 1)}
	runAgent(t, agent.Config{NodeID: nodeID, Addr: "127.0.0.1", OS: "windows", Runtimes: []runtime.Runtime{rt}, Manager: manager{e.d}, Logger: quiet}, func() { prt.Close() })

	spec := cmd("sleep", "60")
	spec.Configs = []api.ConfigReference{{ConfigName: "signup-web-appsettings", ConfigID: "cfg1", File: &api.FileTarget{Name: `C:\web-app\configs\config.json`}}}
	spec.Secrets = []api.SecretReference{
		{SecretName: "signup-web-connectionstrings", SecretID: "sec1", File: &api.FileTarget{Name: `C:\web-app\config\connectionStrings.config`}},
		{SecretName: "db", SecretID: "sec2"},
	}
	tk := e.assignTask(spec)
	e.waitState(tk.ID, api.TaskStateRunning)

	n := e.store.Read().Node(nodeID)
	if n.Description.Platform.OS != "windows" || n.Description.Supports(api.FeatureNetworks) {
		t.Fatalf("registered as %+v, want windows without networks", n.Description)
	}
	c, _ := api.ParseConstraint("node.platform.os == windows")
	if !c.Matches(n) {
		t.Fatal("the seed's constraint does not match the node")
	}
	var targets []string
	for _, f := range <-rt.files {
		targets = append(targets, f.Target)
	}
	want := []string{`C:\web-app\configs\config.json`, `C:\web-app\config\connectionStrings.config`, `C:\ProgramData\Docker\secrets\db`}
	if !slices.Equal(targets, want) {
		t.Fatalf("runtime got targets %q, want %q", targets, want)
	}

	// A target that would escape is rejected on the node, with the reason.
	bad := cmd("sleep", "60")
	bad.Secrets = []api.SecretReference{{SecretName: "db", SecretID: "sec2", File: &api.FileTarget{Name: `C:\app\..\Windows\x`}}}
	tb := e.assignTask(bad)
	got := e.waitTask(tb.ID, "rejected", func(tk *api.Task) bool { return tk.Status.State == api.TaskStateRejected })
	if got.Status.Err == "" {
		t.Fatalf("rejected without a reason: %+v", got.Status)
	}
	e.shutdown(tk.ID)
	e.waitState(tk.ID, api.TaskStateShutdown)
}

// jobsOnLinux stands for Windows' job objects in the Windows process
// runtime: a job kills the processes assigned to it when terminated.
type jobsOnLinux struct{}

type jobOnLinux struct{ pids []int }

func (jobsOnLinux) NewJob() (winjob.Job, error) { return &jobOnLinux{}, nil }
func (jobsOnLinux) Kill(pid int) error          { return syscall.Kill(pid, syscall.SIGKILL) }
func (jobsOnLinux) Resume(int) error            { return nil }
func (jobsOnLinux) Interrupt(pid int) error     { return syscall.Kill(pid, syscall.SIGTERM) }

func (j *jobOnLinux) Assign(pid int) error { j.pids = append(j.pids, pid); return nil }
func (j *jobOnLinux) Close() error         { return nil }
func (j *jobOnLinux) Terminate(uint32) error {
	for _, pid := range j.pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

// A Windows agent's assignment path down to the Windows process runtime:
// the seed's config and secret reach the task as files below its folder,
// at their Windows targets.
func TestWindowsAgentDeliversFilesToProcessTasks(t *testing.T) {
	e := newEnv(t)
	e.must(
		state.Op{Kind: state.OpCreateConfig, Config: &api.Config{ID: "cfg1", Spec: api.ConfigSpec{Name: "signup-web-appsettings", Data: []byte("{}")}}},
		state.Op{Kind: state.OpCreateSecret, Secret: &api.Secret{ID: "sec2", Spec: api.SecretSpec{Name: "db", Data: []byte("pw")}}},
	)
	rt, err := winproc.Open(winproc.Options{Root: filepath.Join(e.root, "win"), NodeAddr: "127.0.0.1", Sys: jobsOnLinux{}, Suspend: func(*exec.Cmd) {}})
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, agent.Config{NodeID: nodeID, Addr: "127.0.0.1", OS: "windows", Runtimes: []runtime.Runtime{rt}, Manager: manager{e.d}, Logger: quiet}, func() { rt.Close() })

	spec := cmd("sh", "-c", `cat "$SHOAL_FILES/C/web-app/configs/config.json" "$SHOAL_FILES/C/ProgramData/Docker/secrets/db"`)
	spec.Configs = []api.ConfigReference{{ConfigName: "signup-web-appsettings", ConfigID: "cfg1", File: &api.FileTarget{Name: `C:\web-app\configs\config.json`}}}
	spec.Secrets = []api.SecretReference{{SecretName: "db", SecretID: "sec2"}}
	tk := e.assignTask(spec)
	if got := e.waitState(tk.ID, api.TaskStateComplete); got.Status.ExitCode == nil || *got.Status.ExitCode != 0 {
		t.Fatalf("task ended %+v", got.Status)
	}
	stdout, _, err := rt.LogPaths(tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := os.ReadFile(stdout); string(out) != "{}pw" {
		t.Errorf("the task read %q, want its config and secret", out)
	}
}
