package testutil

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if err := RemoveImages(); err != nil {
			fmt.Fprintln(os.Stderr, "remove test images:", err)
		}
		os.Exit(code)
	}))
}

func TestProcessRef(t *testing.T) {
	p := fmt.Sprintf("p%d", os.Getpid())
	for tag, want := range map[string]string{
		"shoal-test/app:1":           "shoal-test/app:1-" + p,
		"shoal-test/app":             "shoal-test/app:" + p,
		"localhost:5000/app":         "localhost:5000/app:" + p,
		"localhost:5000/app:v2":      "localhost:5000/app:v2-" + p,
		"registry.example/a/b:x.y_z": "registry.example/a/b:x.y_z-" + p,
	} {
		if got := processRef(tag); got != want {
			t.Errorf("processRef(%q) = %q, want %q", tag, got, want)
		}
	}
}

func TestBuildImage(t *testing.T) {
	start := time.Now()
	ref := BuildImage(t, "shoal-test/testutil:health", TestAppDir(), `HEALTHCHECK --interval=1s CMD ["/app", "health"]`)
	t.Logf("built %s in %v", ref, time.Since(start))
	if again := BuildImage(t, "shoal-test/testutil:health", TestAppDir(), `HEALTHCHECK --interval=1s CMD ["/app", "health"]`); again != ref {
		t.Errorf("second build %q, first %q", again, ref)
	}
	c := DockerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg := img.Config
	if cfg == nil || !slices.Equal(cfg.Entrypoint, []string{"/app"}) || cfg.Labels[LabelTest] != "1" ||
		cfg.Healthcheck == nil || !slices.Equal(cfg.Healthcheck.Test, []string{"CMD", "/app", "health"}) {
		t.Errorf("image config %+v", cfg)
	}

	// The image runs.
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Image:  ref,
		Config: &container.Config{Cmd: []string{"--listen", "127.0.0.1:0"}, Labels: map[string]string{LabelTest: "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil || !res.Container.State.Running {
		t.Errorf("container state %+v, %v", res.Container.State, err)
	}
}

// Images left by test processes that ended are removed by the next build.
func TestSweepImages(t *testing.T) {
	c := DockerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A process that ended.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	dockerfile := fmt.Sprintf("FROM scratch\nLABEL %s=1 %s=%q %s=%q %s=%d %s=1\n",
		LabelTest, labelHost, host, labelBoot, bootID(), labelPID, cmd.Process.Pid, labelStart)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))})
	tw.Write([]byte(dockerfile))
	tw.Close()
	ref := "shoal-test/testutil-sweep:" + strconv.Itoa(os.Getpid())
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{ref}, Version: build.BuilderV1, Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	defer c.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true})
	if _, err := c.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("test image not built: %v", err)
	}

	// Ours stay (this process runs).
	mine := BuildImage(t, "shoal-test/testutil:app", TestAppDir(), "")
	sweepImages(ctx, c)
	if _, err := c.ImageInspect(ctx, ref); err == nil {
		t.Error("the image of an ended process was kept")
	}
	if _, err := c.ImageInspect(ctx, mine); err != nil {
		t.Errorf("the image of this process was removed: %v", err)
	}
}

// RequireDocker skips without an engine, unless SHOAL_REQUIRE_DOCKER=1.
func TestRequireDocker(t *testing.T) {
	if os.Getenv("TESTUTIL_HELPER") == "1" {
		RequireDocker(t)
		return
	}
	for env, want := range map[string]string{"": "--- SKIP", "1": "--- FAIL"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireDocker$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTUTIL_HELPER=1", "DOCKER_HOST=unix://"+filepath.Join(t.TempDir(), "no.sock"),
			EnvRequireDocker+"="+env)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), want) {
			t.Errorf("%s=%q: output\n%s\nwant %q", EnvRequireDocker, env, out, want)
		}
	}
}
