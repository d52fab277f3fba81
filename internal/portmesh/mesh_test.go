package portmesh

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// freePort returns a port nothing listens on now, for proto.
func freePort(t *testing.T, proto string) uint32 {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint32(c.LocalAddr().(*net.UDPAddr).Port)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint32(ln.Addr().(*net.TCPAddr).Port)
}

func service(id string, ports ...api.PortConfig) *api.Service {
	return &api.Service{ID: id, Spec: api.ServiceSpec{Name: id}, Endpoint: &api.Endpoint{Ports: ports}}
}

func runningTask(id, svc string, target uint32, proto, addr string) *api.Task {
	return &api.Task{ID: id, ServiceID: svc, DesiredState: api.TaskStateRunning,
		Status:    api.TaskStatus{State: api.TaskStateRunning},
		Endpoints: []api.TaskEndpoint{{TargetPort: target, Protocol: proto, Addr: addr}}}
}

func taskEvent(t *api.Task) api.Event {
	return api.Event{Type: api.EventTask, Action: api.ActionUpdate, ID: t.ID, Task: t}
}

// echoServer answers each line with NAME:LINE, and reports how many
// connections it accepted.
type echoServer struct {
	ln    net.Listener
	name  string
	mu    sync.Mutex
	conns int
	wg    sync.WaitGroup
}

func startEcho(t *testing.T, name string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln, name: name}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns++
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := io.WriteString(c, e.name+":"+sc.Text()+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); e.wg.Wait() })
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func newMesh(t *testing.T, opts Options) *Mesh {
	t.Helper()
	opts.Addr = "127.0.0.1"
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := New(opts)
	t.Cleanup(m.Close)
	return m
}

// ask sends line on a new connection to the published port and returns
// the answer line.
func ask(t *testing.T, port uint32, line string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(int(port)), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(got), err
}

func TestPublishedPortForwardsAndRemovalFreesIt(t *testing.T) {
	e := startEcho(t, "a")
	m := newMesh(t, Options{})
	p := freePort(t, "tcp")
	m.Reset([]*api.Service{service("web", api.PortConfig{TargetPort: 80, PublishedPort: p})},
		[]*api.Task{runningTask("t1", "web", 80, "", e.addr())})
	if got, err := ask(t, p, "hi"); err != nil || got != "a:hi" {
		t.Fatalf("through published port %d: %q, %v; want a:hi", p, got, err)
	}
	m.Apply(api.Event{Type: api.EventService, Action: api.ActionRemove, ID: "web"})
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(p)))
	if err != nil {
		t.Fatalf("port %d still held after the service was removed: %v", p, err)
	}
	ln.Close()
	if len(m.Ports()) != 0 {
		t.Fatalf("ports after removal: %+v", m.Ports())
	}
}

func TestHostModeAndTargetOnlyPortsAreNotMeshed(t *testing.T) {
	m := newMesh(t, Options{})
	m.Reset([]*api.Service{service("web",
		api.PortConfig{TargetPort: 80, PublishedPort: freePort(t, "tcp"), PublishMode: api.PublishModeHost},
		api.PortConfig{TargetPort: 81})}, nil)
	if ps := m.Ports(); len(ps) != 0 {
		t.Fatalf("mesh ports %+v: host-mode and unallocated ports belong to no mesh listener", ps)
	}
}

func TestTaskToStopTakesNoNewConnections(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	m := newMesh(t, Options{})
	p := freePort(t, "tcp")
	ta, tb := runningTask("ta", "web", 80, "tcp", a.addr()), runningTask("tb", "web", 80, "tcp", b.addr())
	m.Reset([]*api.Service{service("web", api.PortConfig{TargetPort: 80, PublishedPort: p})}, []*api.Task{ta, tb})

	// A connection open on task a keeps working while a drains.
	held, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	r := bufio.NewReader(held)
	io.WriteString(held, "x\n")
	first, _ := r.ReadString('\n')

	victim := ta
	if strings.HasPrefix(first, "b:") {
		victim = tb
	}
	stopping := *victim
	stopping.DesiredState = api.TaskStateShutdown
	stopping.Version = 2
	m.Apply(taskEvent(&stopping))
	for i := 0; i < 20; i++ {
		got, err := ask(t, p, "y")
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(got, first[:2]) {
			t.Fatalf("connection %d went to task %s, which is to stop", i, victim.ID)
		}
	}
	io.WriteString(held, "z\n")
	if got, err := r.ReadString('\n'); err != nil || got != first[:2]+"z\n" {
		t.Fatalf("the connection already on the stopping task: %q, %v; want it to keep working", got, err)
	}
	// A late event of the same task, older, does not bring it back.
	m.Apply(taskEvent(victim))
	if ps := m.Ports(); len(ps) != 1 || len(ps[0].Backends) != 1 {
		t.Fatalf("ports %+v: want one backend left", ps)
	}
}

func TestDialFailureRetriesAnotherTask(t *testing.T) {
	a := startEcho(t, "a")
	dead := "127.0.0.1:" + strconv.Itoa(int(freePort(t, "tcp")))
	m := newMesh(t, Options{})
	p := freePort(t, "tcp")
	m.Reset([]*api.Service{service("web", api.PortConfig{TargetPort: 80, PublishedPort: p})},
		[]*api.Task{runningTask("dead", "web", 80, "", dead), runningTask("ok", "web", 80, "", a.addr())})
	for i := 0; i < 10; i++ {
		if got, err := ask(t, p, "q"); err != nil || got != "a:q" {
			t.Fatalf("request %d: %q, %v: a refused dial must be retried on the other task", i, got, err)
		}
	}
}

func TestUnhealthyOrStartingTaskIsNoBackend(t *testing.T) {
	m := newMesh(t, Options{})
	p := freePort(t, "tcp")
	sick := runningTask("sick", "web", 80, "", "127.0.0.1:1")
	sick.Status.Health = api.HealthUnhealthy
	starting := runningTask("starting", "web", 80, "", "127.0.0.1:2")
	starting.Status.State = api.TaskStateStarting
	m.Reset([]*api.Service{service("web", api.PortConfig{TargetPort: 80, PublishedPort: p})}, []*api.Task{sick, starting})
	if ps := m.Ports(); len(ps) != 1 || len(ps[0].Backends) != 0 || !ps[0].Listening {
		t.Fatalf("ports %+v: want port %d listening with no backend", ps, p)
	}
	// No backend: the client's connection is closed, not left hanging.
	if _, err := ask(t, p, "x"); err == nil {
		t.Fatal("a connection with no backend got an answer")
	}
}

func TestHalfCloseStillDeliversTheAnswer(t *testing.T) {
	// The backend reads to EOF, then answers with what it read.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		all, _ := io.ReadAll(c)
		c.Write(bytes.ToUpper(all))
	}()
	defer func() { ln.Close(); wg.Wait() }()
	m := newMesh(t, Options{})
	p := freePort(t, "tcp")
	m.Reset([]*api.Service{service("up", api.PortConfig{TargetPort: 9, PublishedPort: p})},
		[]*api.Task{runningTask("t", "up", 9, "", ln.Addr().String())})
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "hello mesh")
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "HELLO MESH" {
		t.Fatalf("after the client's half-close: %q, %v; want HELLO MESH then EOF", got, err)
	}
}

func TestIdleConnectionIsClosedButABusyOneIsNot(t *testing.T) {
	e := startEcho(t, "a")
	// The busy connection talks every 50ms against a 2s timeout: only a
	// stall of this whole process for 2s could make it look idle (1s
	// stalls were seen under the full suite's load).
	m := newMesh(t, Options{IdleTimeout: 2 * time.Second})
	p := freePort(t, "tcp")
	m.Reset([]*api.Service{service("web", api.PortConfig{TargetPort: 80, PublishedPort: p})},
		[]*api.Task{runningTask("t", "web", 80, "", e.addr())})
	busy, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	idle, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	br := bufio.NewReader(busy)
	for i, end := 0, time.Now().Add(4500*time.Millisecond); time.Now().Before(end); i++ { // over two idle timeouts
		if _, err := io.WriteString(busy, "x\n"); err != nil {
			t.Fatalf("busy connection, write %d: %v", i, err)
		}
		busy.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("busy connection, read %d: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v; want it closed (EOF) by the idle timeout", err)
	}
}

func TestConnectionLimitRefusesOverTheCap(t *testing.T) {
	e := startEcho(t, "a")
	m := newMesh(t, Options{MaxConns: 1})
	p := freePort(t, "tcp")
	m.Reset([]*api.Service{service("web", api.PortConfig{TargetPort: 80, PublishedPort: p})},
		[]*api.Task{runningTask("t", "web", 80, "", e.addr())})
	first, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(p)))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(first, "1\n")
	if got, _ := bufio.NewReader(first).ReadString('\n'); got != "a:1\n" {
		t.Fatalf("first connection: %q", got)
	}
	if _, err := ask(t, p, "2"); err == nil {
		t.Fatal("a second connection was forwarded over MaxConns 1")
	}
	first.Close()
	// The slot is free again once the first connection ended.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := ask(t, p, "3")
		if err == nil && got == "a:3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the first connection closed: %q, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPortHeldElsewhereIsRetriedOnTheNextChange(t *testing.T) {
	e := startEcho(t, "a")
	var logs testutil.SyncBuffer
	m := newMesh(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint32(holder.Addr().(*net.TCPAddr).Port)
	svc := service("web", api.PortConfig{TargetPort: 80, PublishedPort: p})
	task := runningTask("t", "web", 80, "", e.addr())
	m.Reset([]*api.Service{svc}, []*api.Task{task})
	if ps := m.Ports(); len(ps) != 1 || ps[0].Listening {
		t.Fatalf("ports %+v: want %d not listening", ps, p)
	}
	if !strings.Contains(logs.String(), "cannot listen") || !strings.Contains(logs.String(), "port="+strconv.Itoa(int(p))+"/tcp") {
		t.Fatalf("log %q: want the port that cannot be bound named", logs.String())
	}
	holder.Close()
	later := *task
	later.Version = 3
	m.Apply(taskEvent(&later))
	if got, err := ask(t, p, "back"); err != nil || got != "a:back" {
		t.Fatalf("after the port was freed and the cluster changed: %q, %v", got, err)
	}
}

func TestUDPFlowsReachTheTaskAndRepliesComeBack(t *testing.T) {
	backend := udpBackend(t, func(d []byte) []byte { return append([]byte("echo:"), d...) })
	m := newMesh(t, Options{UDPIdleTimeout: 300 * time.Millisecond})
	p := freePort(t, "udp")
	m.Reset([]*api.Service{service("dns", api.PortConfig{TargetPort: 53, PublishedPort: p, Protocol: "udp"})},
		[]*api.Task{runningTask("t", "dns", 53, "udp", backend)})
	for _, client := range []string{"one", "two"} {
		c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(int(p)))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			c.Write([]byte(client))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != "echo:"+client {
				t.Fatalf("client %s datagram %d: %q, %v", client, i, buf[:n], err)
			}
		}
		c.Close()
	}
	// Idle flows end and give their slots back.
	deadline := time.Now().Add(3 * time.Second)
	for m.limit.n.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d UDP flows still open after their idle timeout", m.limit.n.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
