package dispatcher_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/state"
)

// webTask is a task on node that publishes target ports 80/tcp (twice:
// two port configs) and 53/udp.
func webTask(id, node string) *api.Task {
	tk := newTask(id, node)
	tk.Endpoint = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}, {TargetPort: 80, PublishedPort: 8080}, {TargetPort: 53, Protocol: "udp"}}}
	return tk
}

// A node speaks only for itself: an endpoint it reports is kept only on
// its own registered address, for a target port the task's spec
// publishes, on a valid host port that the manager does not listen on.
// The task's status is kept either way.
func TestReportEndpointsOnlyOnTheNodesOwnAddress(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.d.Reserve(netip.MustParseAddrPort("10.0.0.1:7946"), netip.MustParseAddrPort("0.0.0.0:8443"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	local := e.register("n2", "127.0.0.1")
	linkLocal := e.register("n3", "fe80::1")
	ep := func(target uint32, proto, addr string) api.TaskEndpoint {
		return api.TaskEndpoint{TargetPort: target, Protocol: proto, Addr: addr}
	}
	for i, c := range []struct {
		name       string
		sess       *dispatcher.Session
		node       string
		eps, want  []api.TaskEndpoint
		wantReason string
	}{
		{name: "own address", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1:31000"), ep(53, "udp", "10.0.0.1:31001")},
			want: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1:31000"), ep(53, "udp", "10.0.0.1:31001")}},
		{name: "IPv4-mapped own address", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "", "[::ffff:10.0.0.1]:31000")},
			want: []api.TaskEndpoint{ep(80, "", "[::ffff:10.0.0.1]:31000")}},
		{name: "the manager's loopback", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "127.0.0.1:19999")}},
		{name: "another node's address", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.2:31000")}},
		{name: "a host name", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "localhost:31000")}},
		{name: "a target port not published", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(81, "tcp", "10.0.0.1:31000")}},
		{name: "the wrong protocol", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(53, "tcp", "10.0.0.1:31000")}},
		{name: "port 0", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1:0")}},
		{name: "port out of range", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1:70000")}},
		{name: "no port", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1")}},
		{name: "the manager's port on its address", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1:7946")}},
		{name: "the manager's wildcard port on loopback", sess: local, node: "n2", eps: []api.TaskEndpoint{ep(80, "tcp", "127.0.0.1:8443")}},
		{name: "another port on loopback", sess: local, node: "n2", eps: []api.TaskEndpoint{ep(80, "tcp", "127.0.0.1:8444")},
			want: []api.TaskEndpoint{ep(80, "tcp", "127.0.0.1:8444")}},
		{name: "more endpoints than port configs", sess: s, node: "n1",
			eps:  []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1:31000"), ep(80, "tcp", "10.0.0.1:31001"), ep(80, "tcp", "10.0.0.1:31002")},
			want: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1:31000"), ep(80, "tcp", "10.0.0.1:31001")}},
		{name: "a zone: the same link-local address on another link of the ingress's machine", sess: linkLocal, node: "n3",
			eps: []api.TaskEndpoint{ep(80, "tcp", "[fe80::1%docker0]:31000")}},
		{name: "good and bad together", sess: s, node: "n1", eps: []api.TaskEndpoint{ep(80, "tcp", "127.0.0.1:19999"), ep(80, "tcp", "10.0.0.1:31000")},
			want: []api.TaskEndpoint{ep(80, "tcp", "10.0.0.1:31000")}},
	} {
		id := fmt.Sprintf("t%d", i)
		e.must(createTask(webTask(id, c.node)), assign(id, c.node))
		err := c.sess.Report(testCtx(t), []api.TaskReport{{TaskID: id, Status: api.TaskStatus{State: api.TaskStateRunning, Message: "started"}, Endpoints: c.eps}})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tk := e.task(id)
		if tk.Status.State != api.TaskStateRunning {
			t.Errorf("%s: task is %s, want running: the status stands", c.name, tk.Status.State)
		}
		if len(tk.Endpoints) != len(c.want) || (len(c.want) > 0 && !reflect.DeepEqual(tk.Endpoints, c.want)) {
			t.Errorf("%s: endpoints %+v, want %+v", c.name, tk.Endpoints, c.want)
		}
	}
}

// A container's port published in host mode is on its published port:
// another host port is refused. A process task's port is not (the
// process runtime picks a free one).
func TestReportHostModePortMustBeThePublishedOne(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	for _, c := range []struct {
		image, addr string
		kept        bool
	}{
		{"nginx", "10.0.0.1:8080", true},
		{"nginx", "10.0.0.1:31000", false},
		{"", "10.0.0.1:31000", true},
	} {
		tk := newTask(api.NewID(), "n1")
		tk.Spec.ContainerSpec.Image = c.image
		tk.Endpoint = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}
		e.must(createTask(tk), assign(tk.ID, "n1"))
		eps := []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: c.addr}}
		if err := s.Report(testCtx(t), []api.TaskReport{{TaskID: tk.ID, Status: api.TaskStatus{State: api.TaskStateRunning}, Endpoints: eps}}); err != nil {
			t.Fatal(err)
		}
		if got := len(e.task(tk.ID).Endpoints) == 1; got != c.kept {
			t.Errorf("image %q, endpoint %s: kept %v, want %v", c.image, c.addr, got, c.kept)
		}
	}
}

// Reports about tasks that don't exist, about tasks of other nodes, and
// reports that change nothing never reach Raft: the store's index stays
// where it was, however large the reports.
func TestReportsThatChangeNothingNeverReachRaft(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.must(createTask(newTask("theirs", "n2")), assign("theirs", "n2"))
	e.must(createTask(newTask("mine", "n1")), assign("mine", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	if err := s.Report(testCtx(t), []api.TaskReport{{TaskID: "mine", Status: api.TaskStatus{State: api.TaskStateRunning, Message: "started"}}}); err != nil {
		t.Fatal(err)
	}
	before := e.store.Index()
	big := strings.Repeat("x", 1<<20)
	var reps []api.TaskReport
	for i := range 8 {
		reps = append(reps, api.TaskReport{TaskID: fmt.Sprintf("nosuchtask%d", i), Status: api.TaskStatus{State: api.TaskStateRunning, Message: big}})
	}
	reps = append(reps,
		api.TaskReport{TaskID: "theirs", Status: api.TaskStatus{State: api.TaskStateRunning, Message: big}},
		api.TaskReport{TaskID: "mine", Status: api.TaskStatus{State: api.TaskStateRunning, Message: "started", Timestamp: time.Now()}},
		api.TaskReport{TaskID: "mine", Status: api.TaskStatus{State: api.TaskStateStarting, Message: big}})
	if err := s.Report(testCtx(t), reps); err != nil {
		t.Fatal(err)
	}
	if after := e.store.Index(); after != before {
		t.Fatalf("store index went from %d to %d: reports that change nothing were written", before, after)
	}
}

// What a report may hold is bounded: a batch of more than
// api.MaxReportBatch is refused whole; a long message or error is cut to
// api.MaxStatusText; a report with a state only the managers set, an
// unknown health, or an oversized runtime ID is dropped; a timestamp in
// the future does not become the status's time (the leader's is); an
// exit code of a running task is dropped.
func TestReportFieldsBounded(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")

	if err := s.Report(testCtx(t), make([]api.TaskReport, api.MaxReportBatch+1)); !errors.Is(err, dispatcher.ErrTooManyReports) ||
		!strings.Contains(err.Error(), "smaller batches") {
		t.Fatalf("a batch of %d: %v, want ErrTooManyReports", api.MaxReportBatch+1, err)
	}

	e.must(createTask(newTask("long", "n1")), assign("long", "n1"))
	msg := strings.Repeat("é", 10000)
	code := 1
	future := time.Now().Add(100 * 365 * 24 * time.Hour)
	if err := s.Report(testCtx(t), []api.TaskReport{{TaskID: "long", Status: api.TaskStatus{State: api.TaskStateRunning,
		Message: msg, Err: msg, Timestamp: future, ExitCode: &code}}}); err != nil {
		t.Fatal(err)
	}
	st := e.task("long").Status
	for _, s := range []string{st.Message, st.Err} {
		if len(s) > api.MaxStatusText || !utf8.ValidString(s) || !strings.HasSuffix(s, "(truncated)") || !strings.HasPrefix(s, "éé") {
			t.Errorf("a text of %d bytes kept as %d bytes (valid UTF-8: %v), ending %q", len(msg), len(s), utf8.ValidString(s), s[max(0, len(s)-20):])
		}
	}
	if st.Timestamp.After(time.Now().Add(time.Minute)) {
		t.Errorf("timestamp %v kept from the future", st.Timestamp)
	}
	if st.ExitCode != nil {
		t.Errorf("a running task has exit code %d", *st.ExitCode)
	}

	for _, c := range []struct {
		name string
		st   api.TaskStatus
	}{
		{"a state the managers set", api.TaskStatus{State: api.TaskStateAssigned}},
		{"pending", api.TaskStatus{State: api.TaskStatePending}},
		{"remove", api.TaskStatus{State: api.TaskStateRemove}},
		{"an unknown health", api.TaskStatus{State: api.TaskStateRunning, Health: "great"}},
		{"an oversized runtime ID", api.TaskStatus{State: api.TaskStateRunning, RuntimeID: strings.Repeat("1", api.MaxRuntimeID+1)}},
	} {
		id := api.NewID()
		e.must(createTask(newTask(id, "n1")), assign(id, "n1"))
		before := e.store.Index()
		if err := s.Report(testCtx(t), []api.TaskReport{{TaskID: id, Status: c.st}}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := e.task(id).Status.State; got != api.TaskStateAssigned || e.store.Index() != before {
			t.Errorf("%s: applied (task is %s)", c.name, got)
		}
	}
}

// Several reports on one task in a batch are checked in order, each
// against what the ones before it leave: a report that repeats the
// status two reports back still applies after one that changed it.
func TestReportBatchCheckedInOrder(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.must(createTask(newTask("t1", "n1")), assign("t1", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	healthy := api.TaskStatus{State: api.TaskStateRunning, Health: api.HealthHealthy}
	if err := s.Report(testCtx(t), []api.TaskReport{{TaskID: "t1", Status: healthy}}); err != nil {
		t.Fatal(err)
	}
	err := s.Report(testCtx(t), []api.TaskReport{
		{TaskID: "t1", Status: api.TaskStatus{State: api.TaskStateRunning, Health: api.HealthUnhealthy}},
		{TaskID: "t1", Status: healthy},
	})
	if err != nil {
		t.Fatal(err)
	}
	if h := e.task("t1").Status.Health; h != api.HealthHealthy {
		t.Fatalf("health %q after unhealthy then healthy, want healthy", h)
	}
}

// A registration that says too much of its node is refused, and changes
// nothing.
func TestRegistrationDescriptionBounded(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	many := map[string]string{}
	for i := range 65 {
		many[fmt.Sprint(i)] = "v"
	}
	for _, c := range []struct {
		name string
		desc api.NodeDescription
	}{
		{"a long hostname", api.NodeDescription{Hostname: strings.Repeat("h", 254)}},
		{"many labels", api.NodeDescription{EngineLabels: many}},
		{"a long label", api.NodeDescription{EngineLabels: map[string]string{"k": strings.Repeat("v", 257)}}},
		{"many runtimes", api.NodeDescription{Runtimes: make([]string, 17)}},
		{"a long runtime", api.NodeDescription{Runtimes: []string{strings.Repeat("r", 65)}}},
		{"many unsupported features", api.NodeDescription{Unsupported: make([]string, 17)}},
		{"a long feature", api.NodeDescription{Unsupported: []string{strings.Repeat("f", 65)}}},
		{"a long platform", api.NodeDescription{Platform: api.Platform{OS: strings.Repeat("o", 65)}}},
	} {
		_, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: "n1", Addr: "10.0.0.1", Description: c.desc})
		if !errors.Is(err, dispatcher.ErrInvalidRegistration) || !strings.Contains(err.Error(), "limits:") {
			t.Errorf("%s: %v, want ErrInvalidRegistration naming the limits", c.name, err)
		}
	}
	if len(e.store.Read().Nodes()) != 0 {
		t.Fatal("a refused registration made a node")
	}
}

// The node table is bounded: a new node beyond MaxNodes takes the place
// of the down worker without tasks heard from longest ago, and is refused
// when there is none. Nodes already known register again at any time.
func TestNodeTableBounded(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.d.MaxNodes = 3
	e.start()
	down := func(id string, ago time.Duration) {
		st := api.NodeStatus{State: api.NodeStateDown, LastHeartbeat: time.Now().Add(-ago)}
		e.must(state.Op{Kind: state.OpNodeStatus, ID: id, NodeStatus: &st})
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		e.register(id, "10.0.0.1").Close()
	}
	e.must(createTask(newTask("t1", "n1")), assign("t1", "n1"))
	down("n1", 3*time.Hour) // down, but has a task
	down("n2", time.Hour)
	down("n3", 2*time.Hour)

	e.register("n4", "10.0.0.4").Close()
	if n := e.store.Read().Nodes(); len(n) != 3 || e.store.Read().Node("n3") != nil || e.store.Read().Node("n4") == nil {
		t.Fatalf("nodes %v: want n3 (down, no tasks, the oldest) replaced by n4", nodeIDs(n))
	}
	down("n4", time.Minute)
	e.register("n5", "10.0.0.5") // takes n2's place: heard from before n4
	e.register("n6", "10.0.0.6") // takes n4's
	_, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: "n7", Addr: "10.0.0.7"})
	if !errors.Is(err, dispatcher.ErrTooManyNodes) {
		t.Fatalf("a fourth node with none to replace: %v, want ErrTooManyNodes", err)
	}
	if n := e.store.Read().Nodes(); len(n) != 3 {
		t.Fatalf("nodes %v, want 3", nodeIDs(n))
	}
	// A known node comes back whatever the count.
	e.register("n1", "10.0.0.1")
}

// Registrations that race for the last places of the table fill each
// place once.
func TestNodeTableBoundedUnderConcurrentRegistrations(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.d.MaxNodes = 5
	e.start()
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			s, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: fmt.Sprintf("n%d", i), Addr: "10.0.0.1"})
			if err == nil {
				t.Cleanup(s.Close)
			}
			errs <- err
		}()
	}
	ok := 0
	for range 20 {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, dispatcher.ErrTooManyNodes):
			t.Fatal(err)
		}
	}
	if n := len(e.store.Read().Nodes()); ok != 5 || n != 5 {
		t.Fatalf("%d registrations accepted, %d nodes; want 5 and 5", ok, n)
	}
}

func nodeIDs(ns []*api.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

// A port the service's routing labels name is published by the agent
// without a --publish (the ingress reaches it as Traefik reaches a Swarm
// task): its endpoint is the node's to report, and any other is not.
func TestReportEndpointOfARoutedPort(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	tk := webTask("routed", "n1")
	tk.ServiceLabels = map[string]string{"traefik.http.services.web.loadbalancer.server.port": "8080"}
	e.must(createTask(tk), assign("routed", "n1"))
	eps := []api.TaskEndpoint{
		{TargetPort: 8080, Protocol: "tcp", Addr: "10.0.0.1:31000"},
		{TargetPort: 9090, Protocol: "tcp", Addr: "10.0.0.1:31001"},
	}
	if err := s.Report(testCtx(t), []api.TaskReport{{TaskID: "routed", Status: api.TaskStatus{State: api.TaskStateRunning}, Endpoints: eps}}); err != nil {
		t.Fatal(err)
	}
	got := e.task("routed").Endpoints
	if len(got) != 1 || got[0] != eps[0] {
		t.Errorf("endpoints %+v, want only the routed port 8080's %+v", got, eps[0])
	}
}

// A node's clock decides nothing: a status is stamped with the leader's
// time when it is applied, whatever time the agent sent (kept as
// AgentTimestamp), an hour or 30s ahead or behind.
func TestReportStatusTimeIsTheLeadersNotTheAgents(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	for i, skew := range []time.Duration{time.Hour, 30 * time.Second, -30 * time.Second, -time.Hour} {
		id := fmt.Sprintf("skew%d", i)
		e.must(createTask(newTask(id, "n1")), assign(id, "n1"))
		before := time.Now()
		sent := before.Add(skew).UTC()
		if err := s.Report(testCtx(t), []api.TaskReport{{TaskID: id, Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: sent}}}); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		tk := e.task(id)
		st := tk.Status
		if st.Timestamp.Before(before) || st.Timestamp.After(after) {
			t.Errorf("agent clock %v: status time %v, want the leader's, between %v and %v", skew, st.Timestamp, before, after)
		}
		if !st.AgentTimestamp.Equal(sent) {
			t.Errorf("agent clock %v: agent time %v, want %v as sent", skew, st.AgentTimestamp, sent)
		}
		if since, ok := tk.RunningSince(); !ok || !since.Equal(st.Timestamp) {
			t.Errorf("agent clock %v: running since %v, want the leader's time %v", skew, since, st.Timestamp)
		}
	}
}

// A task in a namespace of its own may be reached on its own overlay
// address, on its target port only; not on an address of its network
// that is not its own.
func TestReportEndpointOnTheTasksOwnOverlayAddress(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	e.must(state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "net-a", Spec: api.NetworkSpec{Name: "appnet",
		IPAM: &api.IPAM{Config: []api.IPAMConfig{{Subnet: "10.9.1.0/24"}}}}}})
	for i, c := range []struct {
		name string
		addr func(own string) string
		kept bool
	}{
		{"its address, target port", func(own string) string { return own + ":80" }, true},
		{"its address, another port", func(own string) string { return own + ":31000" }, false},
		{"another address of its network", func(string) string { return "10.9.1.200:80" }, false},
	} {
		id := fmt.Sprintf("o%d", i)
		tk := webTask(id, "n1")
		tk.Spec.Networks = []api.NetworkAttachment{{Target: "appnet"}}
		e.must(createTask(tk), assign(id, "n1"))
		own := strings.SplitN(e.task(id).NetworksAttachments[0].Addresses[0], "/", 2)[0]
		ep := api.TaskEndpoint{TargetPort: 80, Protocol: "tcp", Addr: c.addr(own)}
		if err := s.Report(testCtx(t), []api.TaskReport{{TaskID: id, Status: api.TaskStatus{State: api.TaskStateRunning, Message: "started"}, Endpoints: []api.TaskEndpoint{ep}}}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := e.task(id).Endpoints; (len(got) == 1 && got[0] == ep) != c.kept {
			t.Errorf("%s: endpoints %+v after reporting %s, want kept %v", c.name, got, ep.Addr, c.kept)
		}
	}
}

// A report's empty endpoint list says the task lost them all (a container
// disconnected from its network): the task's are cleared, so that no
// ingress sends it traffic, and stay cleared across the wire and the Raft
// log. A report without endpoints (null) leaves them as they are.
func TestReportEmptyEndpointsClearThem(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	e.must(createTask(webTask("moved", "n1")), assign("moved", "n1"))
	running := api.TaskStatus{State: api.TaskStateRunning, Message: "started"}
	eps := []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: "10.0.0.1:31000"}}
	report := func(eps []api.TaskEndpoint) {
		t.Helper()
		// Through JSON, as the agent link and the Raft log carry it.
		b, err := json.Marshal([]api.TaskReport{{TaskID: "moved", Status: running, Endpoints: eps}})
		if err != nil {
			t.Fatal(err)
		}
		var reps []api.TaskReport
		if err := json.Unmarshal(b, &reps); err != nil {
			t.Fatal(err)
		}
		if err := s.Report(testCtx(t), reps); err != nil {
			t.Fatal(err)
		}
	}
	report(eps)
	if got := e.task("moved").Endpoints; !reflect.DeepEqual(got, eps) {
		t.Fatalf("endpoints %+v, want %+v", got, eps)
	}
	report(nil)
	if got := e.task("moved").Endpoints; !reflect.DeepEqual(got, eps) {
		t.Fatalf("a report without endpoints changed them to %+v", got)
	}
	report([]api.TaskEndpoint{})
	if got := e.task("moved").Endpoints; len(got) != 0 {
		t.Fatalf("endpoints %+v after a report that they are gone", got)
	}
	// The Raft log entry keeps the empty list apart from null.
	data, err := state.EncodeCommand(&state.Command{Ops: []state.Op{{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: "moved", Endpoints: []api.TaskEndpoint{}}}}})
	var cmd state.Command
	if err == nil {
		err = state.DecodeCommand(data, &cmd)
	}
	if err != nil || len(cmd.Ops) != 1 || cmd.Ops[0].Report == nil || cmd.Ops[0].Report.Endpoints == nil {
		t.Errorf("the Raft command %+v (%v) lost the empty endpoint list", cmd, err)
	}
	moved := []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: "10.0.0.1:31007"}}
	report(moved)
	if got := e.task("moved").Endpoints; !reflect.DeepEqual(got, moved) {
		t.Fatalf("endpoints %+v, want %+v", got, moved)
	}
}
