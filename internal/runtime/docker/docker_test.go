package docker

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/testutil"
)

func TestNewWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
	r, err := New(testCtx(t), Options{NodeID: "n1", NodeAddr: "127.0.0.1"})
	if err == nil {
		r.Close()
		t.Fatal("New succeeded without an engine")
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	testutil.RequireDocker(t)
	if _, err := New(testCtx(t), Options{NodeID: "n1", NodeAddr: "not-an-ip"}); err == nil {
		t.Error("New accepted a node address that is not an IP")
	}
	if _, err := New(testCtx(t), Options{NodeID: "a/b", NodeAddr: "127.0.0.1"}); err == nil {
		t.Error("New accepted a node ID with a slash")
	}
}

func TestStartStopRemove(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	if r.Name() != "docker" {
		t.Errorf("name %q", r.Name())
	}
	s := spec(appImage(t))
	s.Labels = map[string]string{"com.shoal.task.name": s.Name, LabelStackNamespace: "stack1"}
	h := start(t, r, s)
	if !h.Running || h.TaskID != s.TaskID || h.RuntimeID == "" || h.StartedAt.IsZero() || len(h.Endpoints) != 0 {
		t.Errorf("handle %+v", h)
	}

	c := inspect(t, h.RuntimeID).Container
	if c.Name != "/"+s.Name {
		t.Errorf("container name %q, want /%s", c.Name, s.Name)
	}
	wantLabels := map[string]string{
		testutil.LabelTest:    "1",
		"com.shoal.task.name": s.Name,
		LabelStackNamespace:   "stack1",
		LabelTaskID:           s.TaskID,
		LabelServiceID:        s.ServiceID,
		LabelServiceName:      "web",
		LabelNodeID:           r.nodeID,
		SwarmLabelServiceName: "web",
		SwarmLabelServiceID:   s.ServiceID,
		SwarmLabelTaskID:      s.TaskID,
		SwarmLabelTaskName:    s.Name,
		SwarmLabelNodeID:      r.nodeID,
	}
	for k, v := range wantLabels {
		if c.Config.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, c.Config.Labels[k], v)
		}
	}
	waitReady(t, r, s.TaskID)

	if err := r.Stop(testCtx(t), s.TaskID, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, r, s.TaskID); got.ExitCode != 0 || got.Message != "exited with code 0" || got.ExitedAt.IsZero() {
		t.Errorf("exit %+v, want the TERM handler's exit 0", got)
	}
	if err := r.Stop(testCtx(t), s.TaskID, 0); err != nil {
		t.Errorf("second stop: %v", err)
	}
	hs, err := r.List(testCtx(t))
	if err != nil || len(hs) != 1 || hs[0].Running || hs[0].TaskID != s.TaskID {
		t.Errorf("list %+v, %v", hs, err)
	}

	if err := r.Remove(testCtx(t), s.TaskID); err != nil {
		t.Fatal(err)
	}
	cli := testutil.DockerClient(t)
	if _, err := cli.ContainerInspect(testCtx(t), h.RuntimeID, client.ContainerInspectOptions{}); err == nil {
		t.Error("container still there after Remove")
	}
	if _, err := r.Wait(testCtx(t), s.TaskID); !errors.Is(err, runtime.ErrUnknownTask) {
		t.Errorf("wait after remove: %v, want ErrUnknownTask", err)
	}
	if hs, err := r.List(testCtx(t)); err != nil || len(hs) != 0 {
		t.Errorf("list after remove %+v, %v", hs, err)
	}
}

func TestUnknownTask(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	for name, err := range map[string]error{
		"wait":   func() error { _, err := r.Wait(testCtx(t), "nope"); return err }(),
		"stop":   r.Stop(testCtx(t), "nope", time.Second),
		"remove": r.Remove(testCtx(t), "nope"),
		"health": func() error { _, err := r.Health(testCtx(t), "nope"); return err }(),
		"bad id": func() error { _, err := r.Wait(testCtx(t), "../x"); return err }(),
	} {
		if !errors.Is(err, runtime.ErrUnknownTask) {
			t.Errorf("%s: %v, want ErrUnknownTask", name, err)
		}
	}
}

func TestContainerConfig(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	bindDir := t.TempDir()
	volume := "shoal-test-" + api.NewID()
	cli := testutil.DockerClient(t)
	t.Cleanup(func() {
		// After the node's containers are gone (cleanups run last first).
		_, _ = cli.VolumeRemove(testCtx(t), volume, client.VolumeRemoveOptions{Force: true})
	})
	s := spec(appImage(t), "--listen", ":9000")
	s.Container.Command = []string{"/app"}
	s.Container.Env = []string{"FOO=bar baz", "SHOAL_TASK_ID=spoofed"}
	s.Container.User = "1000:1000"
	s.Container.Dir = "/work"
	s.Container.Hostname = "apphost"
	s.Container.StopSignal = "SIGINT"
	s.Container.StopGracePeriod = dur(3 * time.Second)
	init := true
	s.Container.Init = &init
	s.Container.ReadOnly = true
	s.Container.CapAdd = []string{"NET_ADMIN"}
	s.Container.CapDrop = []string{"MKNOD"}
	s.Container.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
	s.Container.Ulimits = []api.Ulimit{{Name: "nofile", Soft: 1000, Hard: 2000}}
	s.Container.Hosts = []string{"db:10.0.0.5", "10.0.0.6 cache cache2"}
	s.Container.DNSConfig = &api.DNSConfig{Nameservers: []string{"10.0.0.53"}, Search: []string{"example.org"}, Options: []string{"ndots:2"}}
	s.Container.Mounts = []api.Mount{
		{Type: api.MountTmpfs, Target: "/scratch", TmpfsSize: 1 << 20, TmpfsMode: 0o1777},
		{Type: api.MountVolume, Source: volume, Target: "/data", VolumeLabels: map[string]string{testutil.LabelTest: "1", "v": "1"}},
		{Type: api.MountVolume, Target: "/anon"},
		{Type: api.MountBind, Source: bindDir, Target: "/host", ReadOnly: true},
	}
	s.Resources = &api.ResourceRequirements{Limits: &api.Resources{NanoCPUs: 500_000_000, MemoryBytes: 64 << 20}}
	s.Ports = []api.PortConfig{{TargetPort: 9000}}
	h := start(t, r, s)

	c := inspect(t, h.RuntimeID).Container
	cfg, hc := c.Config, c.HostConfig
	if !slices.Equal(cfg.Entrypoint, []string{"/app"}) || !slices.Equal(cfg.Cmd, []string{"--listen", ":9000"}) {
		t.Errorf("entrypoint %q cmd %q", cfg.Entrypoint, cfg.Cmd)
	}
	for _, want := range []string{"FOO=bar baz", "SHOAL_TASK_ID=" + s.TaskID, "SHOAL_TASK_NAME=" + s.Name,
		"SHOAL_SERVICE_NAME=web", "SHOAL_TASK_SLOT=1", "SHOAL_PORT_9000=9000", "PORT=9000"} {
		if !slices.Contains(cfg.Env, want) {
			t.Errorf("env %q lacks %q", cfg.Env, want)
		}
	}
	if slices.Contains(cfg.Env, "SHOAL_TASK_ID=spoofed") {
		t.Errorf("env %q: the spec overrode the task ID", cfg.Env)
	}
	if cfg.User != "1000:1000" || cfg.WorkingDir != "/work" || cfg.Hostname != "apphost" || cfg.StopSignal != "SIGINT" ||
		cfg.StopTimeout == nil || *cfg.StopTimeout != 3 {
		t.Errorf("config %+v", cfg)
	}
	if hc.Init == nil || !*hc.Init || !hc.ReadonlyRootfs || hc.NanoCPUs != 500_000_000 || hc.Memory != 64<<20 {
		t.Errorf("host config: init %v read-only %v cpus %d memory %d", hc.Init, hc.ReadonlyRootfs, hc.NanoCPUs, hc.Memory)
	}
	if !slices.Contains(hc.CapAdd, "CAP_NET_ADMIN") || !slices.Contains(hc.CapDrop, "CAP_MKNOD") {
		t.Errorf("capabilities add %q drop %q", hc.CapAdd, hc.CapDrop)
	}
	if hc.Sysctls["net.core.somaxconn"] != "1024" {
		t.Errorf("sysctls %v", hc.Sysctls)
	}
	if len(hc.Ulimits) != 1 || hc.Ulimits[0].Name != "nofile" || hc.Ulimits[0].Soft != 1000 || hc.Ulimits[0].Hard != 2000 {
		t.Errorf("ulimits %+v", hc.Ulimits)
	}
	if want := []string{"db:10.0.0.5", "cache:10.0.0.6", "cache2:10.0.0.6"}; !slices.Equal(hc.ExtraHosts, want) {
		t.Errorf("extra hosts %q, want %q", hc.ExtraHosts, want)
	}
	if len(hc.DNS) != 1 || hc.DNS[0].String() != "10.0.0.53" || !slices.Equal(hc.DNSSearch, []string{"example.org"}) ||
		!slices.Equal(hc.DNSOptions, []string{"ndots:2"}) {
		t.Errorf("dns %v %q %q", hc.DNS, hc.DNSSearch, hc.DNSOptions)
	}
	mounts := map[string]container.MountPoint{}
	for _, m := range c.Mounts {
		mounts[m.Destination] = m
	}
	if m := mounts["/data"]; m.Type != mount.TypeVolume || m.Name != volume {
		t.Errorf("volume mount %+v", m)
	}
	if m := mounts["/anon"]; m.Type != mount.TypeVolume || m.Name == "" {
		t.Errorf("anonymous volume mount %+v", m)
	}
	if m := mounts["/host"]; m.Type != mount.TypeBind || m.Source != bindDir || m.RW {
		t.Errorf("bind mount %+v", m)
	}
	if m := mounts["/scratch"]; m.Type != mount.TypeTmpfs {
		t.Errorf("tmpfs mount %+v (mounts %+v)", m, c.Mounts)
	}
	vol, err := cli.VolumeInspect(testCtx(t), volume, client.VolumeInspectOptions{})
	if err != nil || vol.Volume.Labels["v"] != "1" {
		t.Errorf("volume %+v, %v", vol.Volume, err)
	}

	// The program sees it so.
	var env map[string]string
	get(t, endpoint(t, h), "/env", &env)
	if env["FOO"] != "bar baz" || env["SHOAL_TASK_NAME"] != s.Name || env["PORT"] != "9000" {
		t.Errorf("task env %v", env)
	}
	var root struct {
		Hostname string `json:"hostname"`
		TaskName string `json:"taskName"`
	}
	get(t, endpoint(t, h), "/", &root)
	if root.Hostname != "apphost" || root.TaskName != s.Name {
		t.Errorf("/ answered %+v", root)
	}
	var scratch fileReport
	get(t, endpoint(t, h), "/file?path=/scratch", &scratch)
	if scratch.FSType != "tmpfs" || scratch.Mode != "0777" {
		t.Errorf("/scratch %+v", scratch)
	}

	// Remove takes the anonymous volume with the container, not the named.
	anon := mounts["/anon"].Name
	if err := r.Stop(testCtx(t), s.TaskID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(testCtx(t), s.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.VolumeInspect(testCtx(t), anon, client.VolumeInspectOptions{}); err == nil {
		t.Error("anonymous volume kept after Remove")
	}
	if _, err := cli.VolumeInspect(testCtx(t), volume, client.VolumeInspectOptions{}); err != nil {
		t.Errorf("named volume removed with the container: %v", err)
	}
}

func TestPortsReachable(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t))
	s.Ports = []api.PortConfig{{TargetPort: 8080}, {TargetPort: 7070, Protocol: "udp"}}
	h := start(t, r, s)
	if len(h.Endpoints) != 2 {
		t.Fatalf("endpoints %+v", h.Endpoints)
	}
	for i, want := range []struct {
		target uint32
		proto  string
	}{{7070, "udp"}, {8080, "tcp"}} {
		ep := h.Endpoints[i]
		host, port, err := net.SplitHostPort(ep.Addr)
		if err != nil || host != "127.0.0.1" || port == "0" || ep.TargetPort != want.target || ep.Protocol != want.proto {
			t.Errorf("endpoint %d: %+v", i, ep)
		}
	}
	var root struct {
		TaskID   string `json:"taskID"`
		TaskName string `json:"taskName"`
	}
	get(t, h.Endpoints[1].Addr, "/", &root)
	if root.TaskID != s.TaskID || root.TaskName != s.Name {
		t.Errorf("/ answered %+v", root)
	}
}

func TestHostModePort(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	published := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := spec(appImage(t))
	s.Ports = []api.PortConfig{{TargetPort: 8080, PublishedPort: uint32(published), PublishMode: "host"}}
	h := start(t, r, s)
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(published)); endpoint(t, h) != want {
		t.Errorf("endpoint %s, want %s", endpoint(t, h), want)
	}
	var root struct {
		TaskID string `json:"taskID"`
	}
	get(t, endpoint(t, h), "/", &root)
	if root.TaskID != s.TaskID {
		t.Errorf("/ answered %+v", root)
	}
}

func TestConfigsAndSecrets(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t))
	s.Container.User = "1000:1000"
	s.Container.ReadOnly = true
	s.Container.Mounts = []api.Mount{{Type: api.MountTmpfs, Target: "/etc/app"}}
	s.Ports = []api.PortConfig{{TargetPort: 8080}}
	s.Files = []runtime.File{
		{Target: "/etc/app/config.json", Data: []byte(`{"a":1}`), UID: "1000", GID: "1000", Mode: 0o440},
		{Target: "/config.txt", Data: []byte("plain")},
		{Target: "/run/secrets/token", Data: []byte("s3cret"), UID: "1000", GID: "2000", Mode: 0o400, Secret: true},
		{Target: "/var/secret.pem", Data: []byte("pem"), Secret: true},
	}
	h := start(t, r, s)
	addr := endpoint(t, h)
	for _, want := range []struct {
		path, content, mode string
		uid, gid            int
	}{
		{"/etc/app/config.json", `{"a":1}`, "0440", 1000, 1000},
		{"/config.txt", "plain", "0444", 0, 0},
		{"/run/secrets/token", "s3cret", "0400", 1000, 2000},
		{"/var/secret.pem", "pem", "0444", 0, 0},
	} {
		var f fileReport
		get(t, addr, "/file?path="+want.path, &f)
		if !f.Exists || f.Content != want.content || f.Mode != want.mode || f.UID != want.uid || f.GID != want.gid {
			t.Errorf("%s: %+v, want %+v", want.path, f, want)
		}
		// Files are on tmpfs, never on the node's disk nor in the
		// container's layer.
		if f.FSType != "tmpfs" {
			t.Errorf("%s is on %q, not tmpfs", want.path, f.FSType)
		}
	}

	// The node side is memory-backed, private, and goes with the task.
	dir := r.taskFilesDir(s.TaskID)
	if !strings.HasPrefix(dir, DefaultFilesDir+"/") {
		t.Errorf("task files in %s", dir)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("task files folder: %v, %v", fi, err)
	}
	// They leave the node once the task has stopped, not when it is
	// removed (a stopped task is kept as history until reaped).
	if err := r.Stop(testCtx(t), s.TaskID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("task files folder kept after the task stopped: %v", err)
	}
	if err := r.Remove(testCtx(t), s.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("task files folder kept after Remove: %v", err)
	}
}

func TestBadFilesRejected(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	image := appImage(t)
	for name, f := range map[string]runtime.File{
		"relative":  {Target: "run/secrets/x", Data: []byte("x")},
		"user name": {Target: "/x", Data: []byte("x"), UID: "nobody"},
	} {
		s := spec(image)
		s.Files = []runtime.File{f}
		if _, err := r.Start(testCtx(t), s); !errors.Is(err, runtime.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
	// Secrets need a memory-backed folder.
	dir := filepath.Join(t.TempDir(), "files")
	if tmpfs, err := testutil.IsTmpfs(filepath.Dir(dir)); err != nil || tmpfs {
		t.Skipf("the test's temporary folder is on tmpfs (%v)", err)
	}
	r2, err := New(testCtx(t), Options{NodeID: r.nodeID, NodeAddr: "127.0.0.1", FilesDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	s := spec(image)
	s.Files = []runtime.File{{Target: "/run/secrets/x", Data: []byte("x"), Secret: true}}
	if _, err := r2.Start(testCtx(t), s); !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), "not on tmpfs") {
		t.Errorf("secret on disk: %v, want ErrRejected", err)
	}
}

func TestHealthFromImage(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(healthImage(t))
	start(t, r, s)
	ch, err := r.Health(testCtx(t), s.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := nextHealth(t, ch); first != "starting" && first != "healthy" {
		t.Errorf("first status %q", first)
	}
	waitHealth(t, ch, "healthy")

	// The channel closes when the container ends.
	if err := r.Stop(testCtx(t), s.TaskID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := nextHealth(t, ch); !ok {
			break
		}
	}
	// A task that ended gives a closed channel.
	ch2, err := r.Health(testCtx(t), s.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := nextHealth(t, ch2); ok {
		t.Errorf("health of an ended task: %q", s)
	}
}

func TestHealthOverride(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(healthImage(t))
	retries := uint64(1)
	s.Container.Healthcheck = &api.HealthCheck{
		Test:     []string{"CMD", "/app", "exit", "1"},
		Interval: dur(200 * time.Millisecond),
		Retries:  &retries,
	}
	start(t, r, s)
	ch, err := r.Health(testCtx(t), s.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	seen := waitHealth(t, ch, "unhealthy")
	if slices.Contains(seen, "healthy") {
		t.Errorf("statuses %q: the image's check ran", seen)
	}
}

func TestNoHealthcheck(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	for name, s := range map[string]runtime.TaskSpec{
		"no HEALTHCHECK": spec(appImage(t)),
		"NONE":           spec(healthImage(t)),
	} {
		if name == "NONE" {
			s.Container.Healthcheck = &api.HealthCheck{Test: []string{"NONE"}}
		}
		start(t, r, s)
		ch, err := r.Health(testCtx(t), s.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if first, ok := nextHealth(t, ch); !ok || first != "" {
			t.Errorf("%s: first status %q (open %v), want \"\"", name, first, ok)
		}
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t))
	s.Ports = []api.PortConfig{{TargetPort: 8080}}
	h := start(t, r, s)
	addr := endpoint(t, h)
	// /exit answers in plain text, before the program exits.
	go func() {
		c := &http.Client{Timeout: 5 * time.Second}
		defer c.CloseIdleConnections()
		for i := 0; i < 200; i++ {
			if resp, err := c.Get("http://" + addr + "/exit?code=3"); err == nil {
				resp.Body.Close()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	got := wait(t, r, s.TaskID)
	if got.ExitCode != 3 || got.Message != "exited with code 3" {
		t.Errorf("exit %+v", got)
	}
	// Waiting again returns the same.
	if again := wait(t, r, s.TaskID); again != got {
		t.Errorf("second wait %+v, first %+v", again, got)
	}
}

func TestKilled(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t))
	h := start(t, r, s)
	cli := testutil.DockerClient(t)
	done := make(chan runtime.ExitStatus, 1)
	go func() {
		st, _ := r.Wait(testCtx(t), s.TaskID)
		done <- st
	}()
	if _, err := cli.ContainerKill(testCtx(t), h.RuntimeID, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got.ExitCode != 137 || got.Message != "exited with code 137" {
			t.Errorf("exit %+v", got)
		}
	case <-time.After(testTimeout):
		t.Fatal("Wait did not return")
	}
}

func TestRemovedByUser(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t))
	h := start(t, r, s)
	cli := testutil.DockerClient(t)
	done := make(chan runtime.ExitStatus, 1)
	go func() {
		st, _ := r.Wait(testCtx(t), s.TaskID)
		done <- st
	}()
	// docker rm -f
	if _, err := cli.ContainerRemove(testCtx(t), h.RuntimeID, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got.ExitCode != 137 || got.Message != "container removed" {
			t.Errorf("exit %+v", got)
		}
	case <-time.After(testTimeout):
		t.Fatal("Wait did not return")
	}
	// Stopping and removing a task whose container is gone is no error.
	if err := r.Stop(testCtx(t), s.TaskID, time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := r.Remove(testCtx(t), s.TaskID); err != nil {
		t.Errorf("remove: %v", err)
	}
}

func TestStopGrace(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	image := appImage(t)
	ignoring := spec(image, "--ignore-term")
	ignoring.Container.StopGracePeriod = dur(time.Second)
	graceful := spec(image)
	start(t, r, ignoring)
	start(t, r, graceful)
	waitReady(t, r, ignoring.TaskID)
	waitReady(t, r, graceful.TaskID)
	cases := []struct {
		s    runtime.TaskSpec
		code int
	}{{ignoring, 137}, {graceful, 0}}
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Stop(testCtx(t), c.s.TaskID, time.Second); err != nil {
				t.Error(err)
				return
			}
			st, err := r.Wait(testCtx(t), c.s.TaskID)
			if err != nil || st.ExitCode != c.code {
				t.Errorf("%v: exit %+v, %v; want %d", c.s.Container.Args, st, err, c.code)
			}
		}()
	}
	wg.Wait()
}

func TestMissingImage(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec("shoal-test/nope:1")
	_, err := r.Start(testCtx(t), s)
	if !errors.Is(err, runtime.ErrRejected) {
		t.Fatalf("start: %v, want ErrRejected", err)
	}
	if want := "image shoal-test/nope:1 not found on node " + r.nodeID + ": "; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if hs, err := r.List(testCtx(t)); err != nil || len(hs) != 0 {
		t.Errorf("list %+v, %v", hs, err)
	}
}

func TestRejectedSpecs(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	image := appImage(t)
	for name, mod := range map[string]func(*runtime.TaskSpec){
		"no image":   func(s *runtime.TaskSpec) { s.Container.Image = "" },
		"mount type": func(s *runtime.TaskSpec) { s.Container.Mounts = []api.Mount{{Type: "nfs", Target: "/x"}} },
		"bind source": func(s *runtime.TaskSpec) {
			s.Container.Mounts = []api.Mount{{Type: api.MountBind, Source: "rel", Target: "/x"}}
		},
		"missing source": func(s *runtime.TaskSpec) {
			s.Container.Mounts = []api.Mount{{Type: api.MountBind, Source: "/nonexistent/shoal", Target: "/x"}}
		},
		"port protocol": func(s *runtime.TaskSpec) { s.Ports = []api.PortConfig{{TargetPort: 80, Protocol: "icmp"}} },
		"nameserver": func(s *runtime.TaskSpec) {
			s.Container.DNSConfig = &api.DNSConfig{Nameservers: []string{"dns.example"}}
		},
		"missing program": func(s *runtime.TaskSpec) { s.Container.Command = []string{"/nope"} },
		"bad name":        func(s *runtime.TaskSpec) { s.Name = "bad name!" },
	} {
		s := spec(image)
		mod(&s)
		if _, err := r.Start(testCtx(t), s); !errors.Is(err, runtime.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
	if hs, err := r.List(testCtx(t)); err != nil || len(hs) != 0 {
		t.Errorf("rejected starts left %+v, %v", hs, err)
	}
}

func TestStartTwice(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t))
	start(t, r, s)
	if _, err := r.Start(testCtx(t), s); err == nil || errors.Is(err, runtime.ErrRejected) {
		t.Errorf("second start: %v", err)
	}
}

func TestAdoption(t *testing.T) {
	t.Parallel()
	node := newNodeID()
	r1 := newRuntimeOf(t, node)
	image := appImage(t)
	web := spec(image)
	web.Ports = []api.PortConfig{{TargetPort: 8080}}
	exited := spec(image, "--listen", "bad address")
	hWeb := start(t, r1, web)
	hExited := start(t, r1, exited)
	if got := wait(t, r1, exited.TaskID); got.ExitCode != 1 {
		t.Fatalf("exit %+v", got)
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r1.List(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("list after close: %v", err)
	}

	r2 := newRuntimeOf(t, node)
	hs, err := r2.List(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]runtime.Handle{web.TaskID: hWeb, exited.TaskID: hExited}
	if len(hs) != 2 {
		t.Fatalf("list %+v", hs)
	}
	for _, h := range hs {
		w, ok := want[h.TaskID]
		if !ok || h.RuntimeID != w.RuntimeID || !h.StartedAt.Equal(w.StartedAt) || !slices.Equal(h.Endpoints, w.Endpoints) {
			t.Errorf("listed %+v, started %+v", h, w)
		}
		if h.Running != (h.TaskID == web.TaskID) {
			t.Errorf("listed %+v: running %v", h, h.Running)
		}
	}
	if got := wait(t, r2, exited.TaskID); got.ExitCode != 1 || got.Message != "exited with code 1" {
		t.Errorf("adopted exit %+v", got)
	}
	var root struct {
		TaskID string `json:"taskID"`
	}
	get(t, endpoint(t, hWeb), "/", &root)
	if root.TaskID != web.TaskID {
		t.Errorf("/ answered %+v", root)
	}
	done := make(chan runtime.ExitStatus, 1)
	go func() {
		st, _ := r2.Wait(testCtx(t), web.TaskID)
		done <- st
	}()
	if err := r2.Stop(testCtx(t), web.TaskID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.ExitCode != 0 {
		t.Errorf("adopted stop: exit %+v", got)
	}

	// A third Runtime, never listing, finds tasks on demand.
	r3 := newRuntimeOf(t, node)
	if got := wait(t, r3, web.TaskID); got.ExitCode != 0 {
		t.Errorf("found exit %+v", got)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t), "--listen", "bad address")
	start(t, r, s)
	wait(t, r, s.TaskID)
	var buf bytes.Buffer
	if err := r.Logs(testCtx(t), s.TaskID, api.LogOptions{Follow: true, Tail: -1}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "bad address") {
		t.Errorf("logs %q", buf.String())
	}

	s2 := spec(appImage(t))
	start(t, r, s2)
	waitReady(t, r, s2.TaskID)
	// Follow until the container ends.
	errc := make(chan error, 1)
	var buf2 testutil.SyncBuffer
	go func() { errc <- r.Logs(testCtx(t), s2.TaskID, api.LogOptions{Follow: true, Tail: -1}, &buf2) }()
	if err := r.Stop(testCtx(t), s2.TaskID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"testapp listening on", "testapp started", "shutting down"} {
		if !strings.Contains(buf2.String(), want) {
			t.Errorf("logs %q lack %q", buf2.String(), want)
		}
	}
	// service logs --tail 1 --timestamps, and --since after the last line.
	var last bytes.Buffer
	if err := r.Logs(testCtx(t), s2.TaskID, api.LogOptions{Tail: 1, Timestamps: true}, &last); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(last.String(), "\n"), "\n")
	ts, rest, _ := strings.Cut(lines[0], " ")
	if _, err := time.Parse(time.RFC3339Nano, ts); len(lines) != 1 || err != nil || !strings.HasSuffix(buf2.String(), rest+"\n") {
		t.Errorf("last line with its time: %q (%v); all lines %q", last.String(), err, buf2.String())
	}
	var none bytes.Buffer
	if err := r.Logs(testCtx(t), s2.TaskID, api.LogOptions{Tail: -1, Since: time.Now().Add(time.Hour)}, &none); err != nil || none.Len() != 0 {
		t.Errorf("logs since an hour ahead: %q, %v", none.String(), err)
	}
}

func TestCloseEndsWaits(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t))
	start(t, r, s)
	ch, err := r.Health(testCtx(t), s.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := r.Wait(testCtx(t), s.TaskID)
		errc <- err
	}()
	// Let the waiter block (it may also see ErrClosed at lookup).
	nextHealth(t, ch)
	r.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("wait: %v, want ErrClosed", err)
	}
	for range ch {
	}
	if _, err := r.Start(testCtx(t), spec(appImage(t))); !errors.Is(err, ErrClosed) {
		t.Errorf("start after close: %v", err)
	}
}

// A container with a TTY (service create --tty) gets one, and its output,
// which the engine does not multiplex then, is read as it is.
func TestTTY(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	s := spec(appImage(t))
	s.Container.TTY = true
	h := start(t, r, s)
	if c := inspect(t, h.RuntimeID).Container; !c.Config.Tty {
		t.Error("the container has no TTY")
	}
	waitReady(t, r, s.TaskID)
}
