// Package testutil holds helpers shared by tests: running them against the
// Docker engine of the machine (RequireDocker) and building small test
// images from static Go programs (BuildImage), such as the HTTP server in
// testutil/testapp (TestAppDir).
//
// Images are built with the engine's classic builder (BuildKit need not be
// installed), FROM scratch, so that no registry is needed.
//
// Every image BuildImage makes is labelled LabelTest and tagged for the
// test process only. A package whose tests build images should remove them
// when its tests end, from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		testutil.RemoveImages()
//		os.Exit(code)
//	}
//
// Images of test processes that ended without doing so (a crash, a package
// without TestMain) are removed by the next BuildImage on the same host.
package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/internal/imagebuild"
)

// EnvRequireDocker names the environment variable that, set to 1, makes
// RequireDocker fail a test instead of skipping it when no engine is
// reachable (for CI machines that must run the Docker tests).
const EnvRequireDocker = "SHOAL_REQUIRE_DOCKER"

// LabelTest is set ("1") on every image BuildImage makes, and is meant to
// be set on every container and volume tests make, so that leftovers can be
// found: docker ps -a --filter label=com.shoal.test.
const LabelTest = "com.shoal.test"

// Labels of built images that tell which process made them.
const (
	labelHost  = "com.shoal.test.host"
	labelBoot  = "com.shoal.test.boot"
	labelPID   = "com.shoal.test.pid"
	labelStart = "com.shoal.test.start"
)

// pingTimeout bounds the check that an engine is reachable.
const pingTimeout = 5 * time.Second

// buildTimeout bounds building one image (compiling included).
const buildTimeout = 5 * time.Minute

var dockerPing = sync.OnceValue(func() error {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	_, err = c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return err
})

// DockerAvailable reports whether a Docker engine is reachable (from
// DOCKER_HOST, or the default socket). The answer is found once per process.
func DockerAvailable() error { return dockerPing() }

// RequireDocker skips the test when no Docker engine is reachable, or fails
// it when SHOAL_REQUIRE_DOCKER=1.
func RequireDocker(t testing.TB) {
	t.Helper()
	if err := dockerPing(); err != nil {
		if os.Getenv(EnvRequireDocker) == "1" {
			t.Fatalf("no Docker engine reachable (%s=1): %v", EnvRequireDocker, err)
		}
		t.Skipf("no Docker engine reachable: %v", err)
	}
}

// DockerClient returns a client of the engine (API version negotiated), closed
// when the test ends. It skips the test as RequireDocker does.
func DockerClient(t testing.TB) *client.Client {
	t.Helper()
	RequireDocker(t)
	c, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestAppDir returns the folder of the testapp program (testutil/testapp),
// to pass to BuildImage.
func TestAppDir() string {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		panic("testutil: cannot find its own source folder")
	}
	return filepath.Join(filepath.Dir(file), "testapp")
}

// image is a BuildImage result, shared by the tests of a process.
type image struct {
	key  string // main package folder and Dockerfile extra, to catch misuse
	done chan struct{}
	ref  string
	err  error
}

var (
	imagesMu sync.Mutex
	images   = map[string]*image{}
	swept    bool
)

// BuildImage builds, once per test process and tag, a FROM scratch image
// holding the static build (CGO_ENABLED=0) of the Go main package in
// mainPackageDir as /app, its entrypoint:
//
//	FROM scratch
//	COPY app /app
//	ENTRYPOINT ["/app"]
//	<dockerfileExtra>
//
// dockerfileExtra adds lines, such as
// `HEALTHCHECK --interval=1s CMD ["/app", "health"]`. It returns the image
// reference to use: tag (a "repo[:tag]" reference) with "-p<pid>" appended to
// its tag, so that test processes running at once (go test ./...) never share
// or remove each other's images. Calls with the same tag share the build;
// they must pass the same folder and extra lines. The image is labelled
// LabelTest; RemoveImages removes it.
func BuildImage(t testing.TB, tag string, mainPackageDir string, dockerfileExtra string) string {
	t.Helper()
	RequireDocker(t)
	key := mainPackageDir + "\x00" + dockerfileExtra
	imagesMu.Lock()
	img := images[tag]
	first := img == nil
	if first {
		img = &image{key: key, done: make(chan struct{})}
		images[tag] = img
	}
	sweep := !swept
	swept = true
	imagesMu.Unlock()
	if img.key != key {
		t.Fatalf("BuildImage(%q): built before from another program or Dockerfile", tag)
	}
	if first {
		img.ref, img.err = buildImage(tag, mainPackageDir, dockerfileExtra, sweep)
		close(img.done)
	} else {
		<-img.done
	}
	if img.err != nil {
		t.Fatalf("build image %s: %v", tag, img.err)
	}
	return img.ref
}

// processRef returns the reference of tag for this process.
func processRef(tag string) string {
	suffix := "p" + strconv.Itoa(os.Getpid())
	// A ':' after the last '/' starts the tag (a registry's port comes
	// before a '/').
	if i := strings.LastIndex(tag, ":"); i > strings.LastIndex(tag, "/") {
		return tag + "-" + suffix
	}
	return tag + ":" + suffix
}

func buildImage(tag, dir, extra string, sweep bool) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	c, err := client.New(client.FromEnv)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if sweep {
		sweepImages(ctx, c)
	}

	bin, err := compile(ctx, dir)
	if err != nil {
		return "", err
	}
	// The labels go in one LABEL line: the classic builder makes a layer
	// for each label given as a build option, which is much slower.
	host, _ := os.Hostname()
	labels := []string{
		LabelTest, "1",
		labelHost, host,
		labelBoot, bootID(),
		labelPID, strconv.Itoa(os.Getpid()),
		labelStart, strconv.FormatUint(procStart(os.Getpid()), 10),
	}
	dockerfile := "FROM scratch\nLABEL"
	for i := 0; i < len(labels); i += 2 {
		dockerfile += " " + labels[i] + "=" + strconv.Quote(labels[i+1])
	}
	dockerfile += "\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"
	if extra != "" {
		dockerfile += strings.TrimRight(extra, "\n") + "\n"
	}
	ref := processRef(tag)
	if _, err := imagebuild.Build(ctx, c, ref, imagebuild.File{Name: "Dockerfile", Mode: 0o644, Data: []byte(dockerfile)},
		imagebuild.File{Name: "app", Mode: 0o755, Data: bin}); err != nil {
		return "", err
	}
	imagesMu.Lock()
	built = append(built, ref)
	imagesMu.Unlock()
	return ref, nil
}

// built are the references of the images this process made.
var built []string

// programs are the programs compile built, by folder, shared by the images
// made from the same program.
var (
	programsMu sync.Mutex
	programs   = map[string]*program{}
)

type program struct {
	once sync.Once
	bin  []byte
	err  error
}

// compile builds the main package in dir as a static Linux program, once
// per process, and returns it.
func compile(ctx context.Context, dir string) ([]byte, error) {
	programsMu.Lock()
	p := programs[dir]
	if p == nil {
		p = &program{}
		programs[dir] = p
	}
	programsMu.Unlock()
	p.once.Do(func() { p.bin, p.err = goBuild(ctx, dir) })
	return p.bin, p.err
}

// goBuild builds the main package in dir as a static Linux program.
func goBuild(ctx context.Context, dir string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "shoal-testutil-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "app")
	goTool := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			goTool = p
		}
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if output, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build in %s: %w\n%s", dir, err, output)
	}
	return os.ReadFile(out)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// RemoveImages removes the images BuildImage made in this process. Call it
// from TestMain once the tests ran; it never fails a test, and reports what
// it could not remove.
func RemoveImages() error {
	imagesMu.Lock()
	refs := built
	built = nil
	images = map[string]*image{}
	imagesMu.Unlock()
	if len(refs) == 0 {
		return nil
	}
	c, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, ref := range refs {
		if _, err := c.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepImages removes the images that test processes of this host, now
// ended, built and left behind.
func sweepImages(ctx context.Context, c *client.Client) {
	host, _ := os.Hostname()
	res, err := c.ImageList(ctx, client.ImageListOptions{
		Filters: client.Filters{}.Add("label", LabelTest+"=1", labelHost+"="+host),
	})
	if err != nil {
		return
	}
	boot := bootID()
	for _, img := range res.Items {
		if img.Labels[labelBoot] == boot {
			pid, err := strconv.Atoi(img.Labels[labelPID])
			if err != nil {
				continue
			}
			start, _ := strconv.ParseUint(img.Labels[labelStart], 10, 64)
			if procStart(pid) == start {
				continue // that process still runs
			}
		}
		for _, ref := range img.RepoTags {
			_, _ = c.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	}
}

// bootID identifies the host's current boot.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStart returns the start time of a process (field 22 of its
// /proc/<pid>/stat), 0 if it does not run.
func procStart(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); the start time is field 22.
	if len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}
