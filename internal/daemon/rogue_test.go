package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
)

// The attack as reproduced: a node holding the join token reports its
// task running on the manager's own agent port, and the manager's
// ingress would proxy the world there. The endpoint is refused, so the
// ingress has nowhere to send site.test; a legitimate endpoint reported
// in the same batch (one write, so the ingress sees both at once) is
// routed, which shows the ingress has seen the report.
func TestRogueWorkerCannotRouteIngressToTheManager(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0", IngressAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const rogueAddr = "127.0.0.3"
	// The rogue's own, honest backend.
	ln, err := net.Listen("tcp", rogueAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "good backend") })}
	go backend.Serve(ln)
	defer backend.Close()

	link, node := joinLink(t, d, rogueAddr)
	sess, err := link.Register(ctx, api.NodeRegistration{NodeID: node, Addr: rogueAddr,
		Description: api.NodeDescription{Hostname: "rogue", Runtimes: []string{api.RuntimeProcess}, EngineLabels: map[string]string{"zone": "rogue"},
			Platform: api.Platform{OS: "linux", Architecture: hostArch(t, d)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	c, err := client.New(d.Host())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"evil", "good"} {
		spec := api.ServiceSpec{Name: name, Mode: api.ServiceMode{Global: &api.GlobalService{}},
			Labels: map[string]string{
				"traefik.http.routers." + name + ".rule":                      "Host(`" + name + ".test`)",
				"traefik.http.services." + name + ".loadbalancer.server.port": "80",
			},
			EndpointSpec: &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "1000"}},
				Placement: &api.Placement{Constraints: []string{"engine.labels.zone==rogue"}}}}
		if _, err := c.ServiceCreate(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	tasks := map[string]*api.Task{}
	for len(tasks) < 2 {
		as, err := sess.Assignments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range as.Tasks {
			tasks[tk.ServiceName] = tk
		}
	}
	now := time.Now().UTC()
	running := api.TaskStatus{State: api.TaskStateRunning, Timestamp: now}
	err = sess.Report(ctx, []api.TaskReport{
		{TaskID: tasks["evil"].ID, Status: running, Endpoints: []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: d.AgentAddr()}}},
		{TaskID: tasks["good"].ID, Status: running, Endpoints: []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: ln.Addr().String()}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	get := func(host string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+d.IngressAddr()+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The ingress applies the change on its own time (it follows the
	// store's change stream): ask until the good backend answers.
	for {
		code, body := get("good.test")
		if code == 200 && body == "good backend" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("good.test never routed: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, body := get("evil.test")
	if strings.Contains(body, "join token") || code == http.StatusUnauthorized {
		t.Fatalf("evil.test reached the manager's agent port: %d %s", code, body)
	}
	for _, r := range d.Ingress().Routes() {
		for _, b := range r.Backends {
			if b.Addr == d.AgentAddr() {
				t.Fatalf("route %s sends to the manager's agent port: %v", r.Router, r.Backends)
			}
		}
	}
	if tk := d.Manager().Store().Read().Task(tasks["evil"].ID); len(tk.Endpoints) != 0 {
		t.Fatalf("the manager's agent port is stored as an endpoint: %+v", tk.Endpoints)
	}
}

// joinLink joins d with its token from addr, as a new node would, and
// returns the link client of that node and its ID.
func joinLink(t *testing.T, d *Dev, addr string) (*agentlink.Client, string) {
	t.Helper()
	certPEM, keyPEM, caPEM, err := agentlink.Join(testCtx(t), d.AgentAddr(), d.JoinToken(), addr)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.NewNodeIdentity(certPEM, keyPEM, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	link, err := agentlink.NewClient(d.AgentAddr(), id, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Close)
	return link, id.ID.NodeID
}

// hostArch is the manager node's architecture, so that the rogue's node
// passes the platform filter the same way.
func hostArch(t *testing.T, d *Dev) string {
	t.Helper()
	n := d.Manager().Store().Read().Node(d.NodeID())
	if n == nil {
		t.Fatal("no manager node")
	}
	return n.Description.Platform.Architecture
}

// Reports about tasks that don't exist never reach the Raft log: eight
// reports of a megabyte each, which grew raft.db by 120 MB before, leave
// the committed index and raft.db as they were.
func TestReportsOnUnknownTasksStayOutOfRaft(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	link, node := joinLink(t, d, "127.0.0.3")
	sess, err := link.Register(ctx, api.NodeRegistration{NodeID: node, Addr: "127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	dbPath := filepath.Join(d.DataDir(), "raft", "raft.db")
	before, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	index := d.Manager().Store().Index()
	big := strings.Repeat("x", 1<<20)
	var reps []api.TaskReport
	for i := range 8 {
		reps = append(reps, api.TaskReport{TaskID: api.NewID(), Status: api.TaskStatus{State: api.TaskStateRunning, Message: big, Err: fmt.Sprint(i)}})
	}
	if err := sess.Report(ctx, reps); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Manager().Store().Index(); got != index || after.Size() > before.Size()+1<<20 {
		t.Fatalf("after the reports: index %d → %d, raft.db %d → %d bytes", index, got, before.Size(), after.Size())
	}
}
