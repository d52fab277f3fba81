package agentlink_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
)

// A worker holding the join token reports its task running on the
// manager's own agent port, and on another node's address. Neither
// endpoint reaches the store (so no ingress routes to it); the status
// does.
func TestRogueAgentCannotPointEndpointsElsewhere(t *testing.T) {
	e := newEnv(t)
	e.d.Reserve(netip.MustParseAddrPort(e.addr()))
	ctx := testCtx(t)
	other := e.register(e.client(nodeB), nodeB) // at 127.0.0.9
	if _, err := other.Assignments(ctx); err != nil {
		t.Fatal(err)
	}
	managerPort := e.addr()[strings.LastIndexByte(e.addr(), ':')+1:]
	for _, c := range []struct{ name, from, endpoint string }{
		{"the manager's agent port, from another address", "127.0.0.7", "127.0.0.1:" + managerPort},
		{"the manager's agent port, from the manager's address", "127.0.0.1", "127.0.0.1:" + managerPort},
		{"another node's address", "127.0.0.7", "127.0.0.9:31000"},
	} {
		rogue := e.clientAt(nodeA, c.from)
		sess, err := rogue.Register(ctx, api.NodeRegistration{NodeID: nodeA, Addr: c.from})
		if err != nil {
			t.Fatalf("%s: register: %v", c.name, err)
		}
		tk := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"sleep", "100"}})
		err = sess.Report(ctx, []api.TaskReport{{TaskID: tk.ID, Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: time.Now().UTC()},
			Endpoints: []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: c.endpoint}}}})
		if err != nil {
			t.Fatalf("%s: report: %v", c.name, err)
		}
		got := e.store.Read().Task(tk.ID)
		if got.Status.State != api.TaskStateRunning || len(got.Endpoints) != 0 {
			t.Errorf("%s: task %s with endpoints %+v, want running with none", c.name, got.Status.State, got.Endpoints)
		}
		sess.Close()
	}
}

// A node registers from the address it names: a worker cannot register
// the manager's loopback or another machine's address as its own. The
// refusal is final for the agent (it wraps agent.ErrRejected) and
// changes nothing.
func TestRegistrationMustComeFromTheNodesAddress(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		addr string
		code int
		msg  string
	}{
		{"127.0.0.5", 403, "not the address the agent connects from (127.0.0.1)"},
		{"10.1.2.3", 403, "start the agent with --addr 127.0.0.1"},
		{"0.0.0.0", 400, "own unicast IP address"},
		{"localhost", 400, "want the node's IP address"},
		{"", 400, "missing Addr"},
	} {
		code, body := e.rawAs(nodeA, "POST", "/agent/v1/register", `{"NodeID":"`+nodeA+`","Addr":"`+c.addr+`"}`)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("register at %q from 127.0.0.1: %d %s, want %d with %q", c.addr, code, body, c.code, c.msg)
		}
	}
	if e.store.Read().Node(nodeA) != nil {
		t.Fatal("a refused registration made a node")
	}
	_, err := e.clientAt(nodeA, "127.0.0.5").Register(testCtx(t), api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.6"})
	if !errors.Is(err, agent.ErrRejected) || !strings.Contains(err.Error(), "--addr 127.0.0.5") {
		t.Fatalf("client registering another address: %v, want a final refusal", err)
	}
	_, err = e.clientAt(nodeA, "127.0.0.5").Register(testCtx(t), api.NodeRegistration{NodeID: nodeA, Addr: "0.0.0.0"})
	if !errors.Is(err, agent.ErrRejected) || !strings.Contains(err.Error(), "unicast") {
		t.Fatalf("client registering 0.0.0.0: %v, want a final refusal", err)
	}
	sess, err := e.clientAt(nodeA, "127.0.0.5").Register(testCtx(t), api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.5"})
	if err != nil {
		t.Fatalf("registering its own address: %v", err)
	}
	sess.Close()
	if _, err := agentlink.NewClient(e.addr(), e.ident(nodeA), "192.0.2.1"); err == nil || !strings.Contains(err.Error(), "not an address of this machine") {
		t.Fatalf("client at an address not of this machine: %v", err)
	}
}

// Reports about tasks that don't exist never reach Raft, however large:
// eight reports of a megabyte each leave the store's index where it was.
func TestReportsOnUnknownTasksDoNotGrowTheLog(t *testing.T) {
	e := newEnv(t)
	id := e.sessionID(nodeA, "127.0.0.1")
	before := e.store.Index()
	big := strings.Repeat("x", 1<<20)
	var b strings.Builder
	b.WriteString("[")
	for i := range 8 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"TaskID":"nosuchtask%d","Status":{"State":"running","Message":%q}}`, i, big)
	}
	b.WriteString("]")
	if code, body := e.rawAs(nodeA, "POST", "/agent/v1/sessions/"+id+"/report", b.String()); code != 204 {
		t.Fatalf("report: %d %s", code, body)
	}
	if after := e.store.Index(); after != before {
		t.Fatalf("store index went from %d to %d on reports about tasks that don't exist", before, after)
	}
}

// A batch of reports is bounded in count (400) and in bytes (413), with
// messages that say so.
func TestReportBatchBounded(t *testing.T) {
	e := newEnv(t)
	id := e.sessionID(nodeA, "127.0.0.1")
	many := "[" + strings.Repeat(`{"TaskID":"x"},`, api.MaxReportBatch) + `{"TaskID":"x"}]`
	if code, body := e.rawAs(nodeA, "POST", "/agent/v1/sessions/"+id+"/report", many); code != 400 || !strings.Contains(body, "smaller batches") {
		t.Errorf("%d reports: %d %s, want 400 asking for smaller batches", api.MaxReportBatch+1, code, body)
	}
	huge := `[{"TaskID":"x","Status":{"State":"running","Message":"` + strings.Repeat("x", 17<<20) + `"}}]`
	if code, body := e.rawAs(nodeA, "POST", "/agent/v1/sessions/"+id+"/report", huge); code != 413 || !strings.Contains(body, "larger than") {
		t.Errorf("a 17 MiB report: %d %.200s, want 413", code, body)
	}
	padded := `[{"TaskID":"x"}]` + strings.Repeat(" ", 17<<20)
	if code, body := e.rawAs(nodeA, "POST", "/agent/v1/sessions/"+id+"/report", padded); code != 413 {
		t.Errorf("a small report padded to 17 MiB: %d %.200s, want 413", code, body)
	}
}

// A flood of registrations with the join token is refused with 429 and a
// Retry-After past the per-address limit, and past the total one from
// many addresses; the node table stays bounded by the dispatcher's
// MaxNodes (503 with Retry-After beyond it).
func TestRegistrationFloodLimited(t *testing.T) {
	e := newEnvWith(t, agentlink.RegisterLimits{PerAddr: 0.001, PerAddrBurst: 5, Total: 0.001, TotalBurst: 12}, 1000)
	registerFrom := func(from string, node string) (int, string, http.Header) {
		t.Helper()
		return e.registerFrom(t, from, node)
	}
	ok := 0
	for i := range 20 {
		code, body, h := registerFrom("127.0.0.1", nodeID(i))
		switch {
		case code == 200:
			ok++
		case code == 429 && h.Get("Retry-After") != "" && strings.Contains(body, "too many registrations"):
		default:
			t.Fatalf("registration %d: %d %s", i, code, body)
		}
	}
	if ok != 5 {
		t.Fatalf("%d registrations from one address accepted, want the burst of 5", ok)
	}
	// From other addresses, until the total is spent.
	for i := range 10 {
		code, _, _ := registerFrom(fmt.Sprintf("192.0.2.%d", i+1), nodeID(100+i))
		if code == 200 {
			ok++
		}
	}
	if ok != 12 {
		t.Fatalf("%d registrations accepted in all, want the total burst of 12", ok)
	}
	if n := len(e.store.Read().Nodes()); n != 12 {
		t.Fatalf("%d nodes after the flood, want 12", n)
	}

	// The node table: a dispatcher that admits 3 nodes.
	e = newEnvWith(t, agentlink.RegisterLimits{PerAddrBurst: 100, TotalBurst: 100}, 3)
	for i := range 5 {
		code, body, h := registerFrom(fmt.Sprintf("192.0.2.%d", i+1), nodeID(i))
		wantOK := i < 3
		if (code == 200) != wantOK || (!wantOK && (code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "the most it admits"))) {
			t.Fatalf("registration %d with a table of 3: %d %s", i, code, body)
		}
	}
	if n := len(e.store.Read().Nodes()); n != 3 {
		t.Fatalf("%d nodes, want 3", n)
	}
}

// Linux answers on all of 127.0.0.0/8 (and ::1) without configuring an
// address: a local user who holds the join token must not get a fresh
// per-address budget from each loopback address. They are one host.
func TestRegistrationRateLoopbackIsOneHost(t *testing.T) {
	e := newEnvWith(t, agentlink.RegisterLimits{PerAddr: 0.001, PerAddrBurst: 5, Total: 0.001, TotalBurst: 1000}, 1000)
	ok := 0
	for i := range 20 {
		from := fmt.Sprintf("127.%d.%d.%d", i%3, i%7, i+1)
		if i%4 == 3 {
			from = "::1"
		}
		code, body, _ := e.registerFrom(t, from, nodeID(i))
		switch code {
		case 200:
			ok++
		case 429:
		default:
			t.Fatalf("registration %d from %s: %d %s", i, from, code, body)
		}
	}
	if ok != 5 {
		t.Fatalf("%d registrations from loopback addresses accepted, want one host's burst of 5", ok)
	}
}

// registerFrom registers node at address from, as a request from that
// address.
func (e *env) registerFrom(t *testing.T, from, node string) (int, string, http.Header) {
	t.Helper()
	r := httptest.NewRequest("POST", "/agent/v1/register", strings.NewReader(`{"NodeID":"`+node+`","Addr":"`+from+`"}`))
	r.RemoteAddr = net.JoinHostPort(from, "40000")
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{e.ident(node).Cert.Leaf}}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w.Code, w.Body.String(), w.Header()
}

// After a 429 with Retry-After, the client holds its next request back
// for as long as the manager asked.
func TestClientBacksOffOnRetryAfter(t *testing.T) {
	var calls atomic.Int32
	var last atomic.Int64
	var gap atomic.Int64
	root, _, mgr := newCA(t)
	hs := newTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		if prev := last.Swap(now); prev != 0 {
			gap.Store(now - prev)
		}
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"message":"too many registrations"}`)
			return
		}
		fmt.Fprint(w, `{"SessionID":"s1"}`)
	}), mgr)
	defer hs.Close()
	c, err := agentlink.NewClient(strings.TrimPrefix(hs.URL, "https://"), issueIdentity(t, root, nodeA), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Register(testCtx(t), api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.1"})
	var se *agentlink.StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 {
		t.Fatalf("first registration: %v, want a 429", err)
	}
	if _, err := c.Register(testCtx(t), api.NodeRegistration{NodeID: nodeA, Addr: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if g := time.Duration(gap.Load()); g < 900*time.Millisecond {
		t.Fatalf("the retry came %v after the 429, want at least the 1s of Retry-After", g)
	}
}

func nodeID(i int) string {
	s := strconv.Itoa(i)
	return "flood" + strings.Repeat("0", api.IDLength-5-len(s)) + s
}

// sessionID registers node at addr by hand (from 127.0.0.1, so addr
// must be that) and returns its session's ID.
func (e *env) sessionID(node, addr string) string {
	e.t.Helper()
	return e.sessionIDFrom(node, addr)
}

// sessionIDFrom registers node at addr by hand with node's certificate.
func (e *env) sessionIDFrom(node, addr string) string {
	e.t.Helper()
	code, body := e.rawAs(node, "POST", "/agent/v1/register", `{"NodeID":"`+node+`","Addr":"`+addr+`"}`)
	if code != 200 {
		e.t.Fatalf("register: %d %s", code, body)
	}
	id := body[strings.Index(body, `"SessionID":"`)+len(`"SessionID":"`):]
	return id[:strings.IndexByte(id, '"')]
}

// A join is a stranger's request (no certificate): its body, a token and
// a certificate request of under a kilobyte, is bounded to
// maxJoinBody, not to the 16 MiB a node's report batch may take.
func TestJoinBodyBounded(t *testing.T) {
	e := newEnv(t)
	body := `{"Token":"` + strings.Repeat("a", 128<<10) + `","CSR":""}`
	if code, msg := e.rawAs("", http.MethodPost, "/agent/v1/join", body); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("join with a 128 KiB body: %d %s, want 413", code, msg)
	}
}
