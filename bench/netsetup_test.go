package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
)

// netperfPort is where the netperf servers listen in their containers.
const netperfPort = 5201

// netperfDir is the folder of the netperf program.
func netperfDir() string {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		panic("bench: cannot find its own source folder")
	}
	return filepath.Join(filepath.Dir(file), "cmd", "netperf")
}

// setupNetPaths starts what the paths of BenchmarkNetPaths need, removed
// when the benchmark ends, and returns the paths and a Docker client:
//
//   - on Docker: a user-defined bridge network with a netperf server and a
//     client on it, and a client on the host's network;
//   - on shoal (a dev node, root, routing mesh on 127.0.0.1): an overlay
//     network, a netperf server service on it that publishes its port in
//     ingress mode, and a client service on it.
func setupNetPaths(b *testing.B) ([]netPath, *client.Client) {
	b.Helper()
	testutil.RequireRoot(b)
	if others := shoalBridges(b); len(others) > 0 {
		// Bridges are named by VNI (the same in every cluster), and a
		// node's agent removes the plumbing of tasks it does not know:
		// two nodes on one host break each other's networks.
		b.Fatalf("another shoal node has networks on this host (%s): run this benchmark alone", strings.Join(others, ", "))
	}
	image := testutil.BuildImage(b, "shoal-bench/netperf:1", netperfDir(), "")
	b.Cleanup(func() { _ = testutil.RemoveImages() })
	dc := testutil.DockerClient(b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	run := api.NewID()
	bridge := "shoal-netbench-" + run[:12]
	if _, err := dc.NetworkCreate(ctx, bridge, client.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{testutil.LabelTest: run}}); err != nil {
		b.Fatalf("docker network create: %v", err)
	}
	b.Cleanup(func() {
		removeLabelled(b, dc, testutil.LabelTest, run)
		if _, err := dc.NetworkRemove(context.Background(), bridge, client.NetworkRemoveOptions{}); err != nil {
			b.Errorf("cleanup: docker network rm %s: %v", bridge, err)
		}
	})
	// The server also publishes its port on 127.0.0.1, where Docker's
	// userland proxy (docker-proxy) answers: Docker's own userspace peer
	// of the routing mesh.
	port, _ := network.PortFrom(netperfPort, network.TCP)
	dockerServer := runContainer(b, dc, image, run, bridge, "serve",
		network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}})
	dockerClient := runContainer(b, dc, image, run, bridge, "idle", nil)
	hostClient := runContainer(b, dc, image, run, "host", "idle", nil)
	info, err := dc.ContainerInspect(ctx, dockerServer, client.ContainerInspectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ep := info.Container.NetworkSettings.Networks[bridge]
	if ep == nil || !ep.IPAddress.IsValid() {
		b.Fatalf("the server container has no address on %s", bridge)
	}
	dockerServerAddr := net.JoinHostPort(ep.IPAddress.String(), strconv.Itoa(netperfPort))
	mapped := info.Container.NetworkSettings.Ports[port]
	if len(mapped) == 0 || mapped[0].HostPort == "" {
		b.Fatalf("the server container's port %s is not published: %v", port, info.Container.NetworkSettings.Ports)
	}
	dockerProxyAddr := net.JoinHostPort("127.0.0.1", mapped[0].HostPort)

	// The node's address is the host's own, as on a real node: Docker
	// then maps task ports with its kernel DNAT rules (on 127.0.0.1 its
	// userland proxy would answer instead). The mesh listens on it too,
	// on a port free now.
	nodeIP := hostIP()
	pub, err := net.Listen("tcp", net.JoinHostPort(nodeIP, "0"))
	if err != nil {
		b.Fatal(err)
	}
	published := uint32(pub.Addr().(*net.TCPAddr).Port)
	pub.Close()
	d, c := startDevWith(b, daemon.DevConfig{Docker: true, Addr: nodeIP, Publish: daemon.PublishConfig{Addr: nodeIP}})
	store := d.Manager().Store()
	nw, err := c.NetworkCreate(ctx, api.NetworkSpec{Name: "netbench"})
	if err != nil {
		b.Fatal(err)
	}
	service := func(name, mode string) api.ServiceSpec {
		return api.ServiceSpec{Name: name, Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
			TaskTemplate: api.TaskSpec{
				ContainerSpec: api.ContainerSpec{Image: image, Args: []string{mode}},
				Networks:      []api.NetworkAttachment{{Target: nw.ID}},
			}}
	}
	srvSpec := service("netserver", "serve")
	srvSpec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: netperfPort, PublishedPort: published}}}
	srv, err := c.ServiceCreate(ctx, srvSpec)
	if err != nil {
		b.Fatal(err)
	}
	cli, err := c.ServiceCreate(ctx, service("netclient", "idle"))
	if err != nil {
		b.Fatal(err)
	}
	// Registered after the dev node's cleanup, so run before it: the
	// network goes once its tasks are gone, and its plumbing with it.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, id := range []string{srv.ID, cli.ID} {
			if err := c.ServiceRemove(ctx, id); err != nil {
				b.Errorf("cleanup: service rm: %v", err)
			}
		}
		if err := waitStore(ctx, store, func(tx *state.ReadTx) bool { return len(tx.Tasks()) == 0 }); err != nil {
			b.Errorf("cleanup: tasks left: %v", err)
		}
		if err := c.NetworkRemove(ctx, nw.ID); err != nil {
			b.Errorf("cleanup: network rm: %v", err)
		}
		if err := waitNoLinks(ctx, "net="+nw.ID); err != nil {
			b.Errorf("cleanup: %v", err)
		}
	})
	if err := waitStore(ctx, store, func(tx *state.ReadTx) bool {
		return len(runningTasks(tx, srv.ID)) == 1 && len(runningTasks(tx, cli.ID)) == 1
	}); err != nil {
		b.Fatalf("netperf services not running: %v", err)
	}
	srvTask := runningTasks(store.Read(), srv.ID)[0]
	cliTask := runningTasks(store.Read(), cli.ID)[0]
	if len(srvTask.NetworksAttachments) != 1 || len(srvTask.NetworksAttachments[0].Addresses) == 0 || len(srvTask.Endpoints) != 1 {
		b.Fatalf("server task: networks %+v, endpoints %+v", srvTask.NetworksAttachments, srvTask.Endpoints)
	}
	overlayIP, _, _ := strings.Cut(srvTask.NetworksAttachments[0].Addresses[0], "/")
	fmt.Printf("node address %s; routing mesh on %s:%d; server task's Docker port mapping %s; docker-proxy on %s\n", nodeIP, nodeIP, published, srvTask.Endpoints[0].Addr, dockerProxyAddr)

	target := strconv.Itoa(netperfPort)
	paths := []netPath{
		{netBaseline, "loopback, two processes in one container", dockerServer, "127.0.0.1:" + target},
		{netReference, "Docker user-defined bridge, container → container", dockerClient, dockerServerAddr},
		{"overlay", "shoal overlay, task → task address", cliTask.Status.RuntimeID, net.JoinHostPort(overlayIP, target)},
		{"vip", "shoal overlay, task → service name (VIP, nftables DNAT)", cliTask.Status.RuntimeID, "netserver:" + target},
		{"mesh", "host → published port (routing mesh → task's Docker port mapping)", hostClient, net.JoinHostPort(nodeIP, strconv.Itoa(int(published)))},
		{"docker-port", "host → task's Docker port mapping (no mesh)", hostClient, srvTask.Endpoints[0].Addr},
		{"docker-proxy", "host → Docker port published on 127.0.0.1 (docker-proxy, userspace) → container", hostClient, dockerProxyAddr},
	}
	// A short run over every path first: each is ready (the server
	// listens, the name resolves, the mesh knows the task) and warm.
	for _, p := range paths {
		dockerExec(b, dc, 2*time.Minute, p.from, "/app", "run", "--addr", p.addr, "--time", "200ms", "--wait", "30s")
	}
	return paths, dc
}

// hostIP is the host's address on its default route, or 127.0.0.1
// without one. A UDP "connection" sends nothing: it only picks the route.
func hostIP() string {
	c, err := net.Dial("udp4", "198.51.100.1:9")
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// runContainer starts a container of image running `/app mode` on
// network netMode, publishing ports, labelled LabelTest=run, and returns its ID.
func runContainer(b *testing.B, dc *client.Client, image, run, netMode, mode string, ports network.PortMap) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exposed := network.PortSet{}
	for p := range ports {
		exposed[p] = struct{}{}
	}
	created, err := dc.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: image, Cmd: []string{mode}, ExposedPorts: exposed, Labels: map[string]string{testutil.LabelTest: run}},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(netMode), PortBindings: ports},
	})
	if err != nil {
		b.Fatalf("docker create (%s on %s): %v", mode, netMode, err)
	}
	if _, err := dc.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		b.Fatalf("docker start (%s on %s): %v", mode, netMode, err)
	}
	return created.ID
}

// dockerExec runs argv in a container and returns its standard output; it
// fails the benchmark, with the error output, if argv exits non-zero or
// takes longer than timeout.
func dockerExec(b *testing.B, dc *client.Client, timeout time.Duration, containerID string, argv ...string) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ex, err := dc.ExecCreate(ctx, containerID, client.ExecCreateOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		b.Fatalf("exec %v: %v", argv, err)
	}
	att, err := dc.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		b.Fatalf("exec %v: %v", argv, err)
	}
	defer att.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		b.Fatalf("exec %v: %v", argv, err)
	}
	res, err := dc.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil {
		b.Fatalf("exec %v: %v", argv, err)
	}
	if res.ExitCode != 0 {
		b.Fatalf("exec %v: exit %d: %s", argv, res.ExitCode, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String())
}

// shoalBridges lists the network bridges of shoal nodes on the host.
func shoalBridges(b *testing.B) []string {
	b.Helper()
	ls, err := netlink.LinkList()
	for i := 0; i < 10 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		ls, err = netlink.LinkList()
	}
	if err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		if strings.HasPrefix(l.Attrs().Name, "shbr-") {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// waitNoLinks waits until no link's alias holds mark: the node removed a
// network's bridge, VXLAN device and veths.
func waitNoLinks(ctx context.Context, mark string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ls, err := netlink.LinkList()
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
		var left []string
		for _, l := range ls {
			if strings.Contains(l.Attrs().Alias, mark) {
				left = append(left, l.Attrs().Name)
			}
		}
		if err == nil && len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("links left: " + strings.Join(left, ", "))
		case <-tick.C:
		}
	}
}
