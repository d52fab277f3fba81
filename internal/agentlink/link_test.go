package agentlink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait, so a bug fails a test instead of hanging
// it; it is not a timing assertion.
const testTimeout = 10 * time.Second

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	nodeA = "nodea00000000000000000001"
	nodeB = "nodeb00000000000000000001"
)

// env is a manager's side over real HTTP: a store behind a LocalProposer,
// a running dispatcher, and the link's server on a loopback port.
type env struct {
	t     testing.TB
	store *state.Store
	p     *state.LocalProposer
	d     *dispatcher.Dispatcher
	srv   *agentlink.Server
	http  *httptest.Server
	// root is the cluster CA; issuer admits nodes with tokens.
	root   *ca.RootCA
	issuer *ca.Issuer
	mgr    *ca.NodeIdentity
	ids    map[string]*ca.NodeIdentity
}

func newEnv(t *testing.T) *env { return newEnvWith(t, agentlink.RegisterLimits{}, 0) }

// newEnvWith is newEnv with registration limits and a node table of
// maxNodes (0: the default).
func newEnvWith(t testing.TB, limits agentlink.RegisterLimits, maxNodes int) *env {
	t.Helper()
	s := state.NewStore()
	p := &state.LocalProposer{Store: s}
	// A long period: no node goes down while a test runs, however slow.
	d := &dispatcher.Dispatcher{Store: s, Proposer: p, Logger: quiet, HeartbeatPeriod: time.Minute, MaxNodes: maxNodes}
	t.Cleanup(d.Start(context.Background()))
	e := &env{t: t, store: s, p: p, d: d, ids: map[string]*ca.NodeIdentity{}}
	e.root, e.issuer, e.mgr = newCA(t)
	e.srv = agentlink.NewServer(agentlink.ServerConfig{Dispatcher: d, Store: s, Issuer: e.issuer, Logger: quiet, Limits: limits})
	e.http = newTLSServer(e.srv, e.mgr)
	t.Cleanup(func() {
		// Long-polls and streams end first, so that Close does not wait
		// for them.
		e.srv.Close()
		e.http.Close()
	})
	return e
}

// newCA makes a cluster CA, an issuer with a worker token and the
// manager's identity.
func newCA(t testing.TB) (*ca.RootCA, *ca.Issuer, *ca.NodeIdentity) {
	t.Helper()
	root, err := ca.NewRootCA("cluster1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := ca.NewJoinTokens(root)
	if err != nil {
		t.Fatal(err)
	}
	tokens.Manager = ca.Token{}
	mgr, err := ca.IssueSelf(root, "manager0000000000000000001", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return root, &ca.Issuer{Root: root, Tokens: tokens}, mgr
}

// newTLSServer serves h on a loopback port with the agent port's TLS.
func newTLSServer(h http.Handler, mgr *ca.NodeIdentity) *httptest.Server {
	hs := httptest.NewUnstartedServer(h)
	hs.TLS = ca.ServerConfig(mgr, false)
	// Refused handshakes are what some tests are about.
	hs.Config.ErrorLog = slog.NewLogLogger(quiet.Handler(), slog.LevelError)
	hs.StartTLS()
	return hs
}

func (e *env) addr() string { return strings.TrimPrefix(e.http.URL, "https://") }

// token is the cluster's worker join token.
func (e *env) token() string { return e.issuer.Tokens.Worker.String() }

// ident is node's identity, a certificate the cluster CA issued for it.
func (e *env) ident(node string) *ca.NodeIdentity {
	e.t.Helper()
	if id := e.ids[node]; id != nil {
		return id
	}
	id := issueIdentity(e.t, e.root, node)
	e.ids[node] = id
	return id
}

// issueIdentity issues a worker certificate for node under root.
func issueIdentity(t testing.TB, root *ca.RootCA, node string) *ca.NodeIdentity {
	return testutil.Identity(t, root, node, ca.RoleWorker)
}

// client is node's agent client connecting from 127.0.0.9, the address
// register names.
func (e *env) client(node string) *agentlink.Client { return e.clientAt(node, "127.0.0.9") }

// clientAt is node's agent client connecting from the node address addr.
func (e *env) clientAt(node, addr string) *agentlink.Client {
	e.t.Helper()
	return e.clientWith(e.ident(node), addr)
}

// clientWith is a client presenting id, connecting from addr.
func (e *env) clientWith(id *ca.NodeIdentity, addr string) *agentlink.Client {
	e.t.Helper()
	c, err := agentlink.NewClient(e.addr(), id, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// httpAs is an HTTP client presenting node's certificate ("" for none).
func (e *env) httpAs(node string) *http.Client {
	e.t.Helper()
	cfg := ca.ClientConfig(e.ident(nodeA))
	cfg.Certificates = nil
	if node != "" {
		cfg = ca.ClientConfig(e.ident(node))
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (e *env) register(c *agentlink.Client, node string) agent.Session {
	e.t.Helper()
	sess, err := c.Register(testCtx(e.t), api.NodeRegistration{NodeID: node, Addr: "127.0.0.9", Role: api.RoleManager,
		Description: api.NodeDescription{Hostname: "h-" + node[:5], Runtimes: []string{api.RuntimeProcess}}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(sess.Close)
	return sess
}

func (e *env) must(ops ...state.Op) {
	e.t.Helper()
	res, err := e.p.Propose(context.Background(), &state.Command{Atomic: true, Ops: ops})
	if err != nil || res.Err != nil {
		e.t.Fatalf("propose: %v %v", err, res.Err)
	}
}

// assignTask creates a task listening on target port 80 and assigns it
// to node, as the orchestrator and scheduler would.
func (e *env) assignTask(node string, spec api.ContainerSpec) *api.Task {
	e.t.Helper()
	tk := &api.Task{
		ID: api.NewID(), ServiceID: "svcid", ServiceName: "web", Slot: 1, NodeID: node, SpecVersion: 1,
		Spec:         api.TaskSpec{ContainerSpec: spec},
		Endpoint:     &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}},
		DesiredState: api.TaskStateRunning,
		Status:       api.TaskStatus{State: api.TaskStatePending},
	}
	e.must(state.Op{Kind: state.OpCreateTask, Task: tk})
	e.must(state.Op{Kind: state.OpAssignTask, ID: tk.ID, NodeID: node, Message: "assigned"})
	return tk
}

// raw sends a request with node B's certificate and returns the status
// and the API error message.
func (e *env) raw(method, path, body string) (int, string) {
	e.t.Helper()
	return e.rawAs(nodeB, method, path, body)
}

// rawAs sends a request with node's certificate.
func (e *env) rawAs(node, method, path, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(testCtx(e.t), method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.httpAs(node).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The whole conversation over HTTP: registration makes the node ready as
// a worker, the first assignments are the full set, a task assigned later
// arrives on the waiting long-poll, reports move it forward, heartbeats
// answer the period, and closing ends the session.
func TestSessionOverHTTP(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	sess := e.register(e.client(nodeA), nodeA)

	n := e.store.Read().Node(nodeA)
	if n == nil || n.Status.State != api.NodeStateReady || n.Spec.Role != api.RoleWorker || n.Status.Addr != "127.0.0.9" || n.Description.Hostname != "h-nodea" {
		t.Fatalf("node after registration: %+v", n)
	}
	first, err := sess.Assignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Full || len(first.Tasks) != 0 {
		t.Fatalf("first assignments %+v, want a full, empty set", first)
	}

	got := make(chan api.Assignments, 1)
	errs := make(chan error, 1)
	go func() {
		as, err := sess.Assignments(ctx)
		if err != nil {
			errs <- err
			return
		}
		got <- as
	}()
	tk := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"sleep", "100"}, Env: []string{"A=1"}})
	var as api.Assignments
	select {
	case as = <-got:
	case err := <-errs:
		t.Fatal(err)
	}
	if as.Full || len(as.Tasks) != 1 || as.Tasks[0].ID != tk.ID || as.Tasks[0].Spec.ContainerSpec.Env[0] != "A=1" {
		t.Fatalf("assignments %+v, want the new task with its spec", as)
	}

	rep := api.TaskReport{TaskID: tk.ID, Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: time.Now().UTC(), RuntimeID: "4242"},
		Endpoints: []api.TaskEndpoint{{TargetPort: 80, Addr: "127.0.0.9:31000"}}}
	if err := sess.Report(ctx, []api.TaskReport{rep}); err != nil {
		t.Fatal(err)
	}
	if st := e.store.Read().Task(tk.ID); st.Status.State != api.TaskStateRunning || st.Status.RuntimeID != "4242" || len(st.Endpoints) != 1 {
		t.Fatalf("task after report: %+v", st)
	}
	period, err := sess.Heartbeat(ctx)
	if err != nil || period != time.Minute {
		t.Fatalf("heartbeat: %v %v, want 1m", period, err)
	}

	sess.Close()
	if _, err := sess.Heartbeat(ctx); err == nil || !strings.Contains(err.Error(), "unknown session") {
		t.Fatalf("heartbeat after close: %v, want unknown session", err)
	}
}

// A request without a node certificate is refused on every endpoint but
// join with a message that names the problem, and the client's error is
// final (wraps agent.ErrRejected) so that the agent stops instead of
// retrying.
func TestNoCertificateRefused(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/agent/v1/register", `{"NodeID":"` + nodeA + `","Addr":"127.0.0.1"}`},
		{"GET", "/agent/v1/routes", ""},
		{"POST", "/agent/v1/sessions/x/heartbeat", ""},
	} {
		code, body := e.rawAs("", c.method, c.path, c.body)
		if code != http.StatusUnauthorized || !strings.Contains(body, "no certificate presented") || !strings.Contains(body, "--token-file") {
			t.Errorf("%s %s without a certificate: %d %s", c.method, c.path, code, body)
		}
	}
	if e.store.Read().Node(nodeA) != nil {
		t.Fatal("a node registered without a certificate")
	}
}

// A certificate of another cluster (another CA) does not get past the
// handshake, and a certificate speaks only for its own node: registering
// as another node, or using another node's session, is refused (403,
// final for the agent) and changes nothing.
func TestCertificateSpeaksOnlyForItsNode(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	otherRoot, _, _ := newCA(t)
	stranger := e.clientWith(issueIdentity(t, otherRoot, nodeA), "127.0.0.9")
	if _, err := stranger.Register(ctx, api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.9"}); err == nil {
		t.Fatal("a node of another cluster registered")
	}
	if e.store.Read().Node(nodeA) != nil {
		t.Fatal("a node of another cluster is in the store")
	}

	_, err := e.client(nodeB).Register(ctx, api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.9"})
	if !errors.Is(err, agent.ErrRejected) || !strings.Contains(err.Error(), "speaks only for itself") {
		t.Fatalf("node B registering as node A: %v", err)
	}
	if e.store.Read().Node(nodeA) != nil {
		t.Fatal("node B registered node A")
	}

	// Node B learns node A's session ID (it leaked, say) and uses it.
	id := e.sessionIDFrom(nodeA, "127.0.0.1")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/agent/v1/sessions/" + id + "/assignments", ""},
		{"POST", "/agent/v1/sessions/" + id + "/report", "[]"},
		{"POST", "/agent/v1/sessions/" + id + "/heartbeat", ""},
		{"DELETE", "/agent/v1/sessions/" + id, ""},
	} {
		if code, body := e.rawAs(nodeB, c.method, c.path, c.body); code != http.StatusForbidden || !strings.Contains(body, "speaks only for itself") {
			t.Errorf("node B on node A's session, %s %s: %d %s", c.method, c.path, code, body)
		}
	}
	// The session is still node A's.
	if code, body := e.rawAs(nodeA, "POST", "/agent/v1/sessions/"+id+"/heartbeat", ""); code != 200 {
		t.Fatalf("node A's heartbeat after node B's attempts: %d %s", code, body)
	}
}

// A new node joins with the token: the manager names it, and the
// certificate it gets (for a key that never left the node) registers that
// node, and only that node. A wrong or rotated token is refused, finally.
func TestJoin(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	certPEM, keyPEM, caPEM, err := agentlink.Join(ctx, e.addr(), e.token(), "127.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.NewNodeIdentity(certPEM, keyPEM, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if id.ID.Role != ca.RoleWorker || len(id.ID.NodeID) != api.IDLength {
		t.Fatalf("joined as %+v", id.ID)
	}
	sess, err := e.clientWith(id, "127.0.0.9").Register(ctx, api.NodeRegistration{NodeID: id.ID.NodeID, Addr: "127.0.0.9"})
	if err != nil {
		t.Fatal(err)
	}
	sess.Close()

	_, otherIssuer, _ := newCA(t)
	rotated, err := e.issuer.Tokens.Rotate(e.root, ca.RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	old := e.token()
	e.issuer.Tokens = rotated
	for name, tok := range map[string]string{
		// Another cluster's token names another CA: the node stops at
		// the handshake, before it sends the token.
		"another cluster's token": otherIssuer.Tokens.Worker.String(),
		"right CA, wrong secret":  ca.Token{Digest: e.root.Digest(), Secret: strings.Repeat("a", 25)}.String(),
		"rotated token":           old,
		"not a token":             "SHOALTKN-1-nope",
	} {
		if _, _, _, err := agentlink.Join(ctx, e.addr(), tok, "127.0.0.9"); err == nil {
			t.Errorf("%s: joined", name)
		} else if name != "another cluster's token" && !errors.Is(err, agent.ErrRejected) {
			t.Errorf("%s: %v, want a final refusal", name, err)
		}
	}
	if _, _, _, err := agentlink.Join(ctx, e.addr(), rotated.Worker.String(), "127.0.0.9"); err != nil {
		t.Fatalf("join with the new token: %v", err)
	}
	// The manager token makes managers, through the managers' join: an
	// agent presenting it gets no (manager) certificate.
	withManager, err := e.issuer.Tokens.Rotate(e.root, ca.RoleManager)
	if err != nil {
		t.Fatal(err)
	}
	e.issuer.Tokens = withManager
	if _, _, _, err := agentlink.Join(ctx, e.addr(), withManager.Manager.String(), "127.0.0.9"); err == nil || !strings.Contains(err.Error(), "manager join token") {
		t.Fatalf("agent join with the manager token: %v, want a refusal naming it", err)
	}
}

// Requests the server cannot use are answered 400 (or 404) with a
// message that says what is wrong, and change nothing.
func TestMalformedRequests(t *testing.T) {
	e := newEnv(t)
	e.register(e.client(nodeA), nodeA)
	for _, c := range []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"broken JSON", "POST", "/agent/v1/register", `{"NodeID":`, 400, "malformed request body"},
		{"unknown field", "POST", "/agent/v1/register", `{"NodeID":"` + nodeB + `","Addr":"x","Bogus":1}`, 400, "unknown field"},
		{"two values", "POST", "/agent/v1/register", `{"NodeID":"` + nodeB + `","Addr":"x"} {}`, 400, "more than one JSON value"},
		{"bad node ID", "POST", "/agent/v1/register", `{"NodeID":"short","Addr":"x"}`, 400, "invalid node ID"},
		{"node ID not an ID", "POST", "/agent/v1/register", `{"NodeID":"../../\u001b[2J000000000000000","Addr":"x"}`, 400, "invalid node ID"},
		{"no address", "POST", "/agent/v1/register", `{"NodeID":"` + nodeB + `"}`, 400, "missing Addr"},
		{"report to an unknown session", "POST", "/agent/v1/sessions/nosuch/report", `[]`, 404, "unknown session"},
		{"unknown session", "GET", "/agent/v1/sessions/nosuch/assignments", ``, 404, "unknown session"},
		{"unknown endpoint", "GET", "/agent/v1/nope", ``, 404, "no such agent endpoint"},
	} {
		code, body := e.raw(c.method, c.path, c.body)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, code, body, c.code, c.msg)
		}
	}
	if e.store.Read().Node(nodeB) != nil {
		t.Error("a malformed registration registered a node")
	}
}

// Malformed reports on a live session are refused as a whole.
func TestMalformedReport(t *testing.T) {
	e := newEnv(t)
	c := e.client(nodeA)
	e.register(c, nodeA)
	// The session's path is private to the client: find it through a
	// second registration's answer, made by hand.
	id := e.sessionID(nodeB, "127.0.0.1")
	for _, c := range []struct{ body, msg string }{
		{`{"TaskID":"x"}`, "malformed request body"},
		{`[{"TaskID":""}]`, "missing TaskID"},
		{`[{"TaskID":"x","Status":{"State":"nonsense"}}]`, "malformed request body"},
	} {
		code, body := e.raw("POST", "/agent/v1/sessions/"+id+"/report", c.body)
		if code != 400 || !strings.Contains(body, c.msg) {
			t.Errorf("report %s: %d %s, want 400 with %q", c.body, code, body, c.msg)
		}
	}
}

// A waiting long-poll ends as soon as its context does, and the session
// is then refused (its answer may have been lost), so that the agent
// registers again and gets the full set.
func TestLongPollCancellation(t *testing.T) {
	e := newEnv(t)
	sess := e.register(e.client(nodeA), nodeA)
	if _, err := sess.Assignments(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	errs := make(chan error, 1)
	go func() {
		_, err := sess.Assignments(ctx)
		errs <- err
	}()
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled long-poll: %v, want context.Canceled", err)
	}
	if _, err := sess.Assignments(testCtx(t)); err == nil || !strings.Contains(err.Error(), "register again") {
		t.Fatalf("assignments after a failed one: %v, want an error saying to register again", err)
	}
}

// A long-poll ends with an error when the manager ends the session: here
// the node registers again from elsewhere, which ends its older session.
func TestLongPollEndsWithTheSession(t *testing.T) {
	e := newEnv(t)
	c := e.client(nodeA)
	old := e.register(c, nodeA)
	if _, err := old.Assignments(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		_, err := old.Assignments(testCtx(t))
		errs <- err
	}()
	fresh := e.register(c, nodeA)
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "register again") {
		t.Fatalf("long-poll of a replaced session: %v", err)
	}
	if as, err := fresh.Assignments(testCtx(t)); err != nil || !as.Full {
		t.Fatalf("new session: %+v %v", as, err)
	}
}

// Closing the server ends waiting long-polls and route streams.
func TestServerCloseEndsLongPolls(t *testing.T) {
	e := newEnv(t)
	c := e.client(nodeA)
	sess := e.register(c, nodeA)
	if _, err := sess.Assignments(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		_, err := sess.Assignments(testCtx(t))
		errs <- err
	}()
	synced := make(chan struct{})
	go func() {
		_, err := c.FollowRoutes(testCtx(t), func(agentlink.Routes) { close(synced) }, func(...api.Event) {})
		errs <- err
	}()
	<-synced
	e.srv.Close()
	for range 2 {
		if err := <-errs; err == nil {
			t.Fatal("a long-poll or stream outlived the server")
		}
	}
}

// The manager's own node cannot be taken over by an agent with the worker
// token: it would get the manager's tasks and their secrets.
func TestAgentCannotRegisterAsManager(t *testing.T) {
	e := newEnv(t)
	e.must(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: nodeA, Spec: api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityActive},
		Status: api.NodeStatus{State: api.NodeStateReady}}})
	_, err := e.client(nodeA).Register(testCtx(t), api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.9"})
	if !errors.Is(err, agent.ErrRejected) || !strings.Contains(err.Error(), "is a manager") {
		t.Fatalf("register as the manager's node: %v", err)
	}
}

// A secret's value reaches only the node that runs a task naming it, and
// a node cannot report on another node's task.
func TestSecretsOnlyToTheirNode(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	e.must(state.Op{Kind: state.OpCreateSecret, Secret: &api.Secret{ID: "secid", Spec: api.SecretSpec{Name: "db", Data: []byte("hunter2")}}})
	cb := e.client(nodeB)
	a, b := e.register(e.client(nodeA), nodeA), e.register(cb, nodeB)
	for _, s := range []agent.Session{a, b} {
		if _, err := s.Assignments(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tk := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"true"}, Secrets: []api.SecretReference{{SecretName: "db", SecretID: "secid"}}})
	as, err := a.Assignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(as.Secrets) != 1 || string(as.Secrets[0].Spec.Data) != "hunter2" {
		t.Fatalf("node A's assignments carry secrets %+v, want db with its value", as.Secrets)
	}
	// Node B hears of nothing: a long-poll with a short leash ends
	// without an answer.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if as, err := b.Assignments(short); err == nil {
		t.Fatalf("node B was told %+v", as)
	}
	// B reconnects (its session broke with the cancelled poll) and gets
	// its full set: still no secret.
	b = e.register(cb, nodeB)
	if as, err := b.Assignments(ctx); err != nil || len(as.Secrets) != 0 || len(as.Tasks) != 0 {
		t.Fatalf("node B's full set: %+v %v", as, err)
	}
	if err := b.Report(ctx, []api.TaskReport{{TaskID: tk.ID, Status: api.TaskStatus{State: api.TaskStateFailed, Err: "forged", Timestamp: time.Now().UTC()}}}); err != nil {
		t.Fatal(err)
	}
	if st := e.store.Read().Task(tk.ID).Status; st.State != api.TaskStateAssigned {
		t.Fatalf("node B's report on node A's task applied: %+v", st)
	}
}

// The routes stream starts with every service, task, network and node,
// trimmed to what routing and networking read (with the published ports
// the managers allocated, which the routing mesh listens on; the
// services' networks and aliases; the node addresses the managers took
// from each node's own connection), then carries each change.
func TestRoutesStream(t *testing.T) {
	e := newEnv(t)
	e.must(state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "netid", Spec: api.NetworkSpec{Name: "appnet",
		Driver: "overlay", Labels: map[string]string{"secret-ish": "x"}}}})
	e.must(state.Op{Kind: state.OpCreateService, Service: &api.Service{ID: "svcid", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web",
		EndpointSpec: &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}},
		Labels:       map[string]string{"traefik.http.routers.web.rule": "PathPrefix(`/`)"},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep"}, Env: []string{"PASSWORD=x"}},
			Networks: []api.NetworkAttachment{{Target: "netid", Aliases: []string{"w"}}}}}}})
	e.register(e.client(nodeA), nodeA)
	before := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"sleep"}, Env: []string{"PASSWORD=x"}})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	resets := make(chan agentlink.Routes, 1)
	events := make(chan api.Event, 16)
	done := make(chan error, 1)
	go func() {
		_, err := e.client(nodeA).FollowRoutes(ctx,
			func(r agentlink.Routes) { resets <- r },
			func(evs ...api.Event) {
				for _, ev := range evs {
					events <- ev
				}
			})
		done <- err
	}()
	r := <-resets
	if len(r.Services) != 1 || r.Services[0].Spec.Labels["traefik.http.routers.web.rule"] == "" || r.Services[0].Spec.TaskTemplate.ContainerSpec.Env != nil ||
		len(r.Services[0].Spec.TaskTemplate.ContainerSpec.Command) != 0 {
		t.Fatalf("services %+v: want the labels and no container spec", r.Services)
	}
	if nets := r.Services[0].Spec.TaskTemplate.Networks; len(nets) != 1 || nets[0].Target != "netid" || nets[0].Aliases[0] != "w" {
		t.Fatalf("service networks %+v: want netid with alias w", nets)
	}
	if ep := r.Services[0].Endpoint; ep == nil || len(ep.Ports) != 1 || ep.Ports[0].PublishedPort < 30000 || ep.Ports[0].PublishedPort > 32767 || len(ep.VirtualIPs) != 1 {
		t.Fatalf("service endpoint %+v: want the target-only port's allocated published port and a VIP", ep)
	}
	if len(r.Tasks) != 1 || r.Tasks[0].ID != before.ID || r.Tasks[0].Spec.ContainerSpec.Env != nil || r.Tasks[0].Version == 0 {
		t.Fatalf("tasks %+v: want the task without its spec", r.Tasks)
	}
	if len(r.Networks) != 1 || r.Networks[0].Spec.Name != "appnet" || r.Networks[0].Spec.Labels != nil || r.Networks[0].DriverState == nil || r.Networks[0].DriverState.VNI == 0 || r.Networks[0].IPAM == nil {
		t.Fatalf("networks %+v: want appnet with its VNI and subnet, without its labels", r.Networks)
	}
	if len(r.Nodes) != 1 || r.Nodes[0].ID != nodeA || r.Nodes[0].Status.Addr != "127.0.0.9" || r.Nodes[0].Description.Hostname != "" {
		t.Fatalf("nodes %+v: want node A at the address it registered from, and nothing else of it", r.Nodes)
	}
	// Another node registers: its address comes as a change.
	sb, err := e.clientAt(nodeB, "127.0.0.7").Register(ctx, api.NodeRegistration{NodeID: nodeB, Addr: "127.0.0.7",
		Description: api.NodeDescription{Hostname: "h-b", Runtimes: []string{api.RuntimeProcess}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	for ev := range events {
		if ev.Type == api.EventNode && ev.ID == nodeB && ev.Node != nil && ev.Node.Status.Addr == "127.0.0.7" {
			if ev.Node.Description.Hostname != "" || ev.Node.Description.Runtimes != nil {
				t.Fatalf("node event %+v: want the state and address only", ev.Node)
			}
			break
		}
	}
	after := e.assignTask(nodeB, api.ContainerSpec{Command: []string{"sleep"}})
	for ev := range events {
		if ev.Type == api.EventTask && ev.ID == after.ID && ev.Task.Status.State == api.TaskStateAssigned {
			break
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("stream after cancel: %v", err)
	}
}

// Two agents with the same node ID (a data folder copied to a second
// machine) must not take the node from each other in turn, each new
// registration ending the other's session: each would get the full set
// in turn and run the node's tasks, twice. While one agent is connected,
// another is refused (and changes nothing); it gets the node once the
// first is gone. The same agent registering again (its session broke) is
// never refused.
func TestSecondAgentOfANodeRefused(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	first := e.register(e.client(nodeA), nodeA)
	if _, err := first.Assignments(ctx); err != nil {
		t.Fatal(err)
	}
	polls := make(chan error, 1)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go func() {
		_, err := first.Assignments(pollCtx)
		polls <- err
	}()
	before := e.store.Read().Node(nodeA)

	clone := e.clientAt(nodeA, "127.0.0.8")
	_, err := clone.Register(ctx, api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.8"})
	var se *agentlink.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusConflict || !strings.Contains(err.Error(), "another agent") {
		t.Fatalf("second agent's registration: %v, want 409 naming the other agent", err)
	}
	if n := e.store.Read().Node(nodeA); n.Version != before.Version || n.Status.Addr != "127.0.0.9" {
		t.Fatalf("the refused registration changed the node: %+v", n.Status)
	}
	// The first agent's session lives on: its long-poll answers.
	tk := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"true"}})
	if err := <-polls; err != nil {
		t.Fatalf("first agent's long-poll after the refusal: %v", err)
	}
	go func() {
		as, err := first.Assignments(pollCtx)
		if err == nil && (len(as.Tasks) != 1 || as.Tasks[0].ID != tk.ID) {
			err = fmt.Errorf("unexpected assignments %+v", as)
		}
		polls <- err
	}()

	// The first agent goes away: the clone gets the node.
	first.Close()
	if err := <-polls; err == nil {
		t.Fatal("the long-poll of a closed session answered")
	}
	sess, err := clone.Register(ctx, api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.8"})
	if err != nil {
		t.Fatalf("registration once the first agent is gone: %v", err)
	}
	t.Cleanup(sess.Close)
	if as, err := sess.Assignments(ctx); err != nil || !as.Full || len(as.Tasks) != 1 {
		t.Fatalf("its full set: %+v %v", as, err)
	}
	// Its own registration again (the session broke) replaces its session.
	again, err := clone.Register(ctx, api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.8"})
	if err != nil {
		t.Fatalf("the same agent registering again: %v", err)
	}
	t.Cleanup(again.Close)
}

// An agent killed in the middle of its long-poll (its connection closes)
// leaves the node to the next agent at once: the restarted agent is a new
// process, and must get in before the node is marked down to adopt its
// tasks.
func TestKilledAgentsNodeFreeAgain(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	first := e.register(e.client(nodeA), nodeA)
	if _, err := first.Assignments(ctx); err != nil {
		t.Fatal(err)
	}
	pollCtx, kill := context.WithCancel(ctx)
	polls := make(chan error, 1)
	go func() {
		_, err := first.Assignments(pollCtx)
		polls <- err
	}()
	restarted := e.client(nodeA)
	if _, err := restarted.Register(ctx, api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.9"}); err == nil {
		t.Fatal("a second agent registered while the first one is connected")
	}
	kill()
	<-polls
	// The server sees the connection close on its own time: retry as the
	// agent does, with backoff (capped at 1s). Well before the node would
	// be marked down (4.5s) on a quiet machine; a loaded CI machine once
	// took 2.5s, so the bound is generous.
	start := time.Now()
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		sess, err := restarted.Register(ctx, api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.9"})
		if err == nil {
			t.Cleanup(sess.Close)
			break
		}
		var se *agentlink.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusConflict || time.Since(start) > 10*time.Second {
			t.Fatalf("registration %v after the first agent died: %v", time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(backoff)
	}
}
