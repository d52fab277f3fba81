// Package demo sets up and deploys the signup example (examples/signup)
// on a cluster, and plays the seed's high-availability story on it: what
// `shoal demo` runs, and what the acceptance test asserts.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	signupfiles "github.com/shoalproject/shoal/examples/signup/stack"
	"github.com/shoalproject/shoal/internal/compose"
	"github.com/shoalproject/shoal/internal/stack"
)

// The stacks the demo deploys, as the seed names them.
const (
	Stack          = "signup"
	Infrastructure = "infrastructure"
)

// Networks, configs and secrets the stack files take as external.
var (
	Networks = []string{"signup-net", "frontend-net", "backend-net"}
	Configs  = map[string]string{
		"reference-data-config": `{"countries": ["Ireland", "Norway", "Peru", "Japan", "Kenya"], "roles": ["Developer", "Architect", "Tester", "Manager"]}`,
	}
	Secrets = map[string]string{
		"signup-db-password":             "", // made at random
		"save-handler-connectionstrings": "", // the same password
		"reference-data-secret":          `{"environment": "demo"}`,
	}
)

// Env is what the demo works with.
type Env struct {
	Client *client.Client
	// Bin is the signup program's absolute path; DBDir the database's folder.
	Bin, DBDir string
	// StackDir holds the stack files, written there for the reader to
	// replay the steps by hand.
	StackDir string
	// Password is the database password, in both secrets.
	Password string
	// Image, when set, is the signup image (BuildImage): the services
	// run as containers, from the stack files in StackDir/docker.
	Image string
}

// Vars are the stack files' variables.
func (e *Env) Vars() map[string]string {
	return map[string]string{"SIGNUP_BIN": e.Bin, "SIGNUP_DATA": e.DBDir, "SIGNUP_IMAGE": e.Image}
}

// StackFile is the path of one stack file (signup-v2.yml) for the
// runtime the demo uses.
func (e *Env) StackFile(name string) string {
	if e.Image != "" {
		return filepath.Join(e.StackDir, "docker", name)
	}
	return filepath.Join(e.StackDir, name)
}

// Build builds the signup program into dir with the go tool, from the
// shoal module the current folder is in. It is static (no cgo: NATS and
// SQLite are pure Go), so that it also runs alone in a FROM scratch image.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "signup")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/shoalproject/shoal/examples/signup")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the signup example (run shoal demo in a clone of shoal, with Go installed, or pass --signup-bin): %w\n%s", err, out)
	}
	return bin, nil
}

// WriteStackFiles writes the embedded stack files into dir.
func WriteStackFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(signupfiles.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := signupfiles.Files.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
}

// CheckFree fails when the cluster already runs a stack the demo
// deploys, which its cleanup would remove.
func CheckFree(ctx context.Context, c *client.Client) error {
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if ns := s.Spec.Labels[api.StackNamespaceLabel]; ns == Stack || ns == Infrastructure {
			return fmt.Errorf("the cluster already runs stack %s (service %s): remove it first (shoal stack rm %s)", ns, s.Spec.Name, ns)
		}
	}
	return nil
}

// Setup creates the external networks, configs and secrets. Objects
// that already exist are an error: the demo removes only what it made.
func Setup(ctx context.Context, e *Env) error {
	for _, n := range Networks {
		if _, err := e.Client.NetworkCreate(ctx, api.NetworkSpec{Name: n, Labels: map[string]string{"shoal.demo": "signup"}}); err != nil {
			return fmt.Errorf("create network %s: %w", n, err)
		}
	}
	for n, data := range Configs {
		if _, err := e.Client.ConfigCreate(ctx, api.ConfigSpec{Name: n, Data: []byte(data), Labels: map[string]string{"shoal.demo": "signup"}}); err != nil {
			return fmt.Errorf("create config %s: %w", n, err)
		}
	}
	for n, data := range Secrets {
		if data == "" {
			data = e.Password
		}
		if _, err := e.Client.SecretCreate(ctx, api.SecretSpec{Name: n, Data: []byte(data), Labels: map[string]string{"shoal.demo": "signup"}}); err != nil {
			return fmt.Errorf("create secret %s: %w", n, err)
		}
	}
	return nil
}

// Deploy deploys one of the stack files (a name in StackDir) as stack
// name, as `shoal stack deploy -d` does, and returns the services it
// created or changed.
func Deploy(ctx context.Context, e *Env, file, name string) ([]string, error) {
	st, err := compose.Load(ctx, compose.Options{Files: []string{e.StackFile(file)}, Project: name, Env: e.Vars()})
	if err != nil {
		return nil, err
	}
	plan, err := stack.Make(ctx, e.Client, st, false)
	if err != nil {
		return nil, err
	}
	if err := stack.Apply(ctx, e.Client, plan, func(stack.Step) {}); err != nil {
		return nil, err
	}
	return plan.Changed(), nil
}

// Cleanup removes the stacks, then the networks, configs and secrets
// Setup made (those labelled shoal.demo), and waits for the tasks to go.
func Cleanup(ctx context.Context, c *client.Client) error {
	var errs []error
	for _, s := range []string{Stack, Infrastructure} {
		if err := stack.Teardown(ctx, c, s, func(string, string) {}); err != nil && !strings.Contains(err.Error(), "nothing found in stack") {
			errs = append(errs, err)
		}
	}
	if err := waitNoTasks(ctx, c); err != nil {
		errs = append(errs, err)
	}
	for _, n := range Networks {
		if nw, err := c.NetworkInspect(ctx, n); err == nil && nw.Spec.Labels["shoal.demo"] == "signup" {
			errs = append(errs, c.NetworkRemove(ctx, n))
		}
	}
	for n := range Configs {
		if o, err := c.ConfigInspect(ctx, n); err == nil && o.Spec.Labels["shoal.demo"] == "signup" {
			errs = append(errs, c.ConfigRemove(ctx, n))
		}
	}
	for n := range Secrets {
		if o, err := c.SecretInspect(ctx, n); err == nil && o.Spec.Labels["shoal.demo"] == "signup" {
			errs = append(errs, c.SecretRemove(ctx, n))
		}
	}
	return errors.Join(errs...)
}

// waitNoTasks waits until no task of the demo's stacks runs. The tasks of
// a removed service are not Live (they are meant to stop) from the start,
// while their processes serve out the drain delay and their stop signal:
// on a cluster the demo did not start (-H), nothing else waits for them.
func waitNoTasks(ctx context.Context, c *client.Client) error {
	for {
		ts, err := c.TaskList(ctx, client.TaskFilter{})
		if err != nil {
			return err
		}
		n := len(unstopped(ts))
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the demo's %d tasks to stop: %w", n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// unstopped are the tasks of the demo's stacks that have not ended, even
// those meant to stop.
func unstopped(ts []*api.Task) []*api.Task {
	var out []*api.Task
	for _, t := range ts {
		if (strings.HasPrefix(t.ServiceName, Stack+"_") || strings.HasPrefix(t.ServiceName, Infrastructure+"_")) &&
			!t.Status.State.Terminal() {
			out = append(out, t)
		}
	}
	return out
}
