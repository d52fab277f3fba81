package dispatcher_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dispatcher"
)

// registerSession registers node n1 at 10.0.0.1 as the agent run session.
func (e *env) registerSession(session string) *dispatcher.Session {
	e.t.Helper()
	s, err := e.d.Register(testCtx(e.t), api.NodeRegistration{NodeID: "n1", Addr: "10.0.0.1", Session: session,
		Description: api.NodeDescription{Hostname: "host-n1", Runtimes: []string{api.RuntimeProcess}}})
	if err != nil {
		e.t.Fatalf("Register(n1, %s): %v", session, err)
	}
	e.t.Cleanup(s.Close)
	return s
}

// A node whose agent restarted (a new session) has its tasks' endpoints
// unconfirmed in the registration's own write: no ingress nor routing
// mesh sends them traffic (TakesTraffic), since a port may have moved
// and been taken while no agent ran, until the new agent reports them,
// unchanged or not. The same agent reconnecting changes nothing, and a
// report from the replaced agent is dropped.
func TestNewAgentSessionUnconfirmsEndpoints(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	old := e.registerSession("run-1")
	e.must(createTask(webTask("web", "n1")), assign("web", "n1"))
	running := api.TaskStatus{State: api.TaskStateRunning, Message: "started"}
	eps := []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: "10.0.0.1:31000"}}
	if err := old.Report(testCtx(t), []api.TaskReport{{TaskID: "web", Status: running, Endpoints: eps}}); err != nil {
		t.Fatal(err)
	}
	if tk := e.task("web"); !tk.TakesTraffic() {
		t.Fatalf("reported task takes no traffic: %+v", tk)
	}

	e.registerSession("run-1") // the same agent reconnects
	if tk := e.task("web"); tk.EndpointsUnconfirmed || !tk.TakesTraffic() {
		t.Fatalf("the same agent reconnecting unconfirmed the endpoints: %+v", tk)
	}

	renewed := e.registerSession("run-2")
	tk := e.task("web")
	if !tk.EndpointsUnconfirmed || tk.TakesTraffic() {
		t.Fatalf("after a new agent registered: unconfirmed %v, takes traffic %v; want out of every pool", tk.EndpointsUnconfirmed, tk.TakesTraffic())
	}
	if !reflect.DeepEqual(tk.Endpoints, eps) {
		t.Errorf("endpoints %+v, want them kept (the agent checks the ports it must keep against them)", tk.Endpoints)
	}
	// The replaced agent's word predates the new one's reading.
	if err := old.Report(testCtx(t), []api.TaskReport{{TaskID: "web", Status: running, Endpoints: eps}}); err != nil {
		t.Fatal(err)
	}
	if tk := e.task("web"); !tk.EndpointsUnconfirmed {
		t.Fatalf("a report of the replaced agent confirmed the endpoints")
	}
	// A status without endpoints confirms nothing.
	if err := renewed.Report(testCtx(t), []api.TaskReport{{TaskID: "web", Status: api.TaskStatus{State: api.TaskStateRunning, Message: "still"}}}); err != nil {
		t.Fatal(err)
	}
	if tk := e.task("web"); !tk.EndpointsUnconfirmed {
		t.Fatalf("a report without endpoints confirmed them")
	}
	// The new agent read the same endpoints: reported unchanged, they
	// are confirmed (not dropped as a report that changes nothing).
	if err := renewed.Report(testCtx(t), []api.TaskReport{{TaskID: "web", Status: running, Endpoints: eps}}); err != nil {
		t.Fatal(err)
	}
	if tk := e.task("web"); tk.EndpointsUnconfirmed || !tk.TakesTraffic() || !reflect.DeepEqual(tk.Endpoints, eps) {
		t.Fatalf("after the new agent's report: %+v", tk)
	}
}

// A registration's session is bounded, as everything a node says.
func TestRegistrationSessionBounded(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	long := make([]byte, api.MaxSession+1)
	for i := range long {
		long[i] = 'a'
	}
	_, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: "n1", Addr: "10.0.0.1", Session: string(long)})
	if err == nil {
		t.Fatal("a session beyond the limit was registered")
	}
}
