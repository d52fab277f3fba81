package daemon

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/netagent"
)

type viewSink struct{ last netagent.View }

func (s *viewSink) SetView(v netagent.View) error { s.last = v; return nil }

// The view reaches the netagent on each change to what it reads, and not
// on changes it does not read: a task's status message, a task with no
// network, a node's heartbeat-free update with the same address.
func TestNetViewPushesOnlyRelevantChanges(t *testing.T) {
	sink := &viewSink{}
	v := newNetView(sink, slog.Default())
	att := []api.NetworkAttachmentStatus{{Network: api.NetworkRef{ID: "n1"}, Addresses: []string{"10.0.1.3/24"}}}
	onNet := &api.Task{ID: "t1", ServiceID: "s1", NodeID: "a", NetworksAttachments: att, Status: api.TaskStatus{State: api.TaskStateRunning}}
	v.Apply(api.Event{Type: api.EventTask, ID: "t1", Task: onNet})
	if v.pushes != 0 {
		t.Fatal("a change before the full set was pushed")
	}
	v.Reset(agentlink.Routes{Nodes: []*api.Node{{ID: "a", Status: api.NodeStatus{Addr: "192.0.2.1"}}}, Tasks: []*api.Task{onNet}})
	step := func(what string, wantPush bool, evs ...api.Event) {
		t.Helper()
		before := v.pushes
		v.Apply(evs...)
		if got := v.pushes > before; got != wantPush {
			t.Errorf("%s: pushed %v, want %v", what, got, wantPush)
		}
	}
	msg := *onNet
	msg.Status.Message = "still running"
	step("status message", false, api.Event{Type: api.EventTask, Action: api.ActionUpdate, ID: "t1", Task: &msg})
	step("task without networks", false, api.Event{Type: api.EventTask, Action: api.ActionCreate, ID: "t2", Task: &api.Task{ID: "t2"}})
	step("secret", false, api.Event{Type: api.EventSecret, ID: "x"})
	step("node, same address", false, api.Event{Type: api.EventNode, ID: "a", Node: &api.Node{ID: "a", Status: api.NodeStatus{State: "down", Addr: "192.0.2.1"}}})
	step("node moved", true, api.Event{Type: api.EventNode, ID: "a", Node: &api.Node{ID: "a", Status: api.NodeStatus{Addr: "192.0.2.9"}}})
	stopping := msg
	stopping.DesiredState = api.TaskStateShutdown
	step("task marked to stop", true, api.Event{Type: api.EventTask, Action: api.ActionUpdate, ID: "t1", Task: &stopping})
	step("network created", true, api.Event{Type: api.EventNetwork, Action: api.ActionCreate, ID: "n1", Network: &api.Network{ID: "n1"}})
	step("task removed", true, api.Event{Type: api.EventTask, Action: api.ActionRemove, ID: "t1"})
	step("unknown task removed", false, api.Event{Type: api.EventTask, Action: api.ActionRemove, ID: "t9"})
	if len(sink.last.Tasks) != 0 || len(sink.last.Networks) != 1 || sink.last.Nodes[0].Status.Addr != "192.0.2.9" {
		t.Errorf("last view %+v", sink.last)
	}
}

// A node that cannot plumb networks says why, once, and runs without.
func TestOpenNetworkingSaysWhyNot(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		why    string
	}{
		{"::1", false, "not an IPv4 address"},
		{"127.0.0.2", true, "loopback"},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		n, why := openNetworking(tc.addr, tc.remote, log)
		if n != nil {
			n.Close()
			t.Fatalf("%s: networking opened", tc.addr)
		}
		want := tc.why
		if os.Geteuid() != 0 {
			want = "need root"
		}
		if !strings.Contains(why, want) {
			t.Errorf("%s: refused for %q, want a reason saying %q", tc.addr, why, want)
		}
		if got := buf.String(); strings.Count(got, "networks are not isolated") != 1 || !strings.Contains(got, want) {
			t.Errorf("%s: logged %q, want one warning saying %q", tc.addr, got, want)
		}
	}
}
