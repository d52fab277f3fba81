package docker

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// These tests need no engine.

func TestTaskEnv(t *testing.T) {
	s := runtime.TaskSpec{TaskID: "t1", Name: "web.3.t1", ServiceName: "web", Slot: 3,
		Ports:     []api.PortConfig{{TargetPort: 8080}, {TargetPort: 9090}},
		Container: api.ContainerSpec{Env: []string{"A=1", "SHOAL_TASK_ID=x", "A=2", "B"}}}
	want := []string{"A=2", "SHOAL_TASK_ID=t1", "B", "SHOAL_TASK_NAME=web.3.t1", "SHOAL_SERVICE_NAME=web",
		"SHOAL_TASK_SLOT=3", "SHOAL_PORT_8080=8080", "SHOAL_PORT_9090=9090", "PORT=8080"}
	if got := taskEnv(s); !slices.Equal(got, want) {
		t.Errorf("env\n%q\nwant\n%q", got, want)
	}
	// The spec's PORT is kept.
	s.Container.Env = []string{"PORT=3000"}
	if got := taskEnv(s); !slices.Contains(got, "PORT=3000") || slices.Contains(got, "PORT=8080") {
		t.Errorf("env %q", got)
	}
}

func TestExtraHosts(t *testing.T) {
	for line, want := range map[string][]string{
		"db:10.0.0.1":       {"db:10.0.0.1"},
		"10.0.0.1 db":       {"db:10.0.0.1"},
		"10.0.0.1  db  db2": {"db:10.0.0.1", "db2:10.0.0.1"},
		"::1 local6":        {"local6:::1"},
		"db":                nil,
		"db 10.0.0.1":       nil,
		"":                  nil,
	} {
		got, err := extraHosts(line)
		if want == nil {
			if err == nil {
				t.Errorf("%q: accepted as %q", line, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %q, %v; want %q", line, got, err, want)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 0, -time.Second: 0, time.Nanosecond: 1, time.Second: 1,
		1500 * time.Millisecond: 2, 10 * time.Second: 10} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestPortConfig(t *testing.T) {
	r := &Runtime{addr: netip.MustParseAddr("10.1.2.3")}
	exposed, bindings, err := r.portConfig([]api.PortConfig{
		{TargetPort: 80},
		{TargetPort: 53, Protocol: "UDP"},
		{TargetPort: 443, PublishedPort: 8443, PublishMode: "host"},
		{TargetPort: 80},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(exposed) != 3 {
		t.Errorf("exposed %v", exposed)
	}
	for port, want := range map[string]network.PortBinding{
		"80/tcp":  {HostIP: r.addr},
		"53/udp":  {HostIP: r.addr},
		"443/tcp": {HostPort: "8443"},
	} {
		if b := bindings[network.MustParsePort(port)]; len(b) != 1 || b[0] != want {
			t.Errorf("%s: bindings %+v, want %+v", port, b, want)
		}
	}
	for _, bad := range []api.PortConfig{{TargetPort: 0}, {TargetPort: 70000}, {TargetPort: 80, Protocol: "icmp"}} {
		if _, _, err := r.portConfig([]api.PortConfig{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestMountOf(t *testing.T) {
	for _, bad := range []api.Mount{
		{Type: api.MountBind, Source: "rel", Target: "/x"},
		{Type: api.MountBind, Source: "/a", Target: "x"},
		{Type: api.MountTmpfs, Source: "/a", Target: "/x"},
		{Type: "nfs", Target: "/x"},
	} {
		if _, err := mountOf(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	m, err := mountOf(api.Mount{Type: api.MountVolume, Source: "v", Target: "/v", VolumeLabels: map[string]string{"a": "1"}})
	if err != nil || m.VolumeOptions == nil || m.VolumeOptions.Labels["a"] != "1" {
		t.Errorf("volume mount %+v, %v", m, err)
	}
}

func TestExitStatusOf(t *testing.T) {
	at := "2024-01-02T03:04:05.000000006Z"
	for _, c := range []struct {
		state container.State
		code  int
		msg   string
	}{
		{container.State{Status: container.StateExited, ExitCode: 3, FinishedAt: at}, 3, "exited with code 3"},
		{container.State{Status: container.StateExited, ExitCode: 137, OOMKilled: true, FinishedAt: at}, 137, "exited with code 137 (out of memory)"},
		{container.State{Status: container.StateExited, ExitCode: 127, Error: "no such file", FinishedAt: at}, 127, "exited with code 127: no such file"},
		{container.State{Status: container.StateRemoving, ExitCode: 137, FinishedAt: at}, 137, "container removed"},
		{container.State{Status: container.StateCreated}, -1, "container created but never started"},
	} {
		got := exitStatusOf(&c.state)
		if got.ExitCode != c.code || got.Message != c.msg || got.ExitedAt.IsZero() {
			t.Errorf("%+v: %+v", c.state, got)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"abc", "a.b-c_d", "x1"} {
		if err := checkID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", ".a", "a/b", "a=b", "a,b", "a\nb"} {
		if checkID(id) == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

// A task on overlay networks resolves through the agent (127.0.0.11); one
// on internal networks only gets no engine network and publishes nothing.
func TestContainerConfigOfASandbox(t *testing.T) {
	r := &Runtime{addr: netip.MustParseAddr("10.1.2.3")}
	dns := runtime.DNS{Nameservers: []netip.Addr{netip.MustParseAddr("127.0.0.11")}, Search: []string{"example.org"}, Options: []string{"ndots:0"}}
	spec := runtime.TaskSpec{TaskID: "t1", Container: api.ContainerSpec{Image: "img"}, Ports: []api.PortConfig{{TargetPort: 80}},
		Sandbox: &runtime.Sandbox{DNS: dns}}
	_, hc, err := r.containerConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	if hc.NetworkMode != "" || len(hc.PortBindings) != 1 {
		t.Errorf("on a non-internal network: network mode %q, bindings %v; want the engine's bridge with the port published", hc.NetworkMode, hc.PortBindings)
	}
	if !slices.Equal(hc.DNS, dns.Nameservers) || !slices.Equal(hc.DNSSearch, dns.Search) || !slices.Equal(hc.DNSOptions, dns.Options) {
		t.Errorf("DNS %v search %v options %v, want the agent's resolver", hc.DNS, hc.DNSSearch, hc.DNSOptions)
	}

	spec.Sandbox.Isolated = true
	_, hc, err = r.containerConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	if hc.NetworkMode != "none" || len(hc.PortBindings) != 0 {
		t.Errorf("internal only: network mode %q, bindings %v; want none and no port", hc.NetworkMode, hc.PortBindings)
	}

	// The user's own nameservers win.
	spec.Container.DNSConfig = &api.DNSConfig{Nameservers: []string{"10.0.0.53"}}
	_, hc, err = r.containerConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(hc.DNS) != 1 || hc.DNS[0].String() != "10.0.0.53" {
		t.Errorf("DNS %v, want the user's 10.0.0.53 only", hc.DNS)
	}
}

// Every container carries Swarm's labels beside shoal's, for the tools
// that read a Swarm node's containers; no user or task label replaces them.
func TestContainerConfigSwarmLabels(t *testing.T) {
	r := &Runtime{nodeID: "node1", addr: netip.MustParseAddr("10.1.2.3")}
	for _, tc := range []struct {
		name string
		spec runtime.TaskSpec
		want map[string]string
		// absent are labels the container must not have.
		absent []string
	}{
		{name: "replicated task of a stack",
			spec: runtime.TaskSpec{TaskID: "t1", ServiceID: "s1", ServiceName: "app_web", Name: "app_web.2.t1", Slot: 2,
				Labels:    map[string]string{LabelStackNamespace: "app"},
				Container: api.ContainerSpec{Image: "img", Labels: map[string]string{"team": "x"}}},
			want: map[string]string{
				SwarmLabelServiceName: "app_web", SwarmLabelServiceID: "s1", SwarmLabelTaskID: "t1",
				SwarmLabelTaskName: "app_web.2.t1", SwarmLabelNodeID: "node1", SwarmLabelTask: "",
				LabelStackNamespace: "app", LabelServiceName: "app_web", LabelTaskID: "t1", "team": "x"}},
		{name: "global task, no stack",
			spec: runtime.TaskSpec{TaskID: "t2", ServiceID: "s2", ServiceName: "agent", Name: "agent.node1.t2",
				Container: api.ContainerSpec{Image: "img"}},
			want:   map[string]string{SwarmLabelTaskName: "agent.node1.t2", SwarmLabelNodeID: "node1", SwarmLabelServiceName: "agent"},
			absent: []string{LabelStackNamespace}},
		{name: "user labels cannot pose as Swarm's",
			spec: runtime.TaskSpec{TaskID: "t3", ServiceID: "s3", ServiceName: "web", Name: "web.1.t3", Slot: 1,
				Container: api.ContainerSpec{Image: "img", Labels: map[string]string{SwarmLabelTaskID: "other", SwarmLabelNodeID: "elsewhere", LabelServiceName: "x"}}},
			want: map[string]string{SwarmLabelTaskID: "t3", SwarmLabelNodeID: "node1", LabelServiceName: "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := r.containerConfig(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got, ok := cfg.Labels[k]; !ok || got != v {
					t.Errorf("label %s = %q (set: %v), want %q", k, got, ok, v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := cfg.Labels[k]; ok {
					t.Errorf("label %s set, want none", k)
				}
			}
		})
	}
}
