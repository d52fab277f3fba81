//go:build linux

package demo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/netlab"
)

// Extra nodes.
//
// The tour's last step needs nodes that join a running cluster. On one
// machine, `shoal demo --tour` makes them as internal/netlab does for the
// e2e tests: each node is a network namespace with one interface on a
// bridge of the host (links shdb-ID, the bridge, and shdID-N), running a
// `shoal agent` of its own. A namespace per node is what lets the nodes
// run the overlay networks the stack's services use: a node's VXLAN
// device, bridges and nftables tables are its namespace's, and its
// address (its VTEP) is one the others reach. Agents on loopback
// addresses of one namespace would remove each other's plumbing, and
// shoal refuses networks to them. The manager (the demo's dev cluster, in
// the host's namespace) takes the bridge's address as its node address,
// so that the nodes reach it, its VTEP and its tasks' ports.
//
// Close undoes everything: the agents, their data and secrets folders,
// the nodes' entries in the cluster, the namespaces, the links and the
// bridge's accept rules in the host's firewall.

// Nodes are extra worker nodes held back until Join.
type Nodes struct {
	lab     *netlab.Lab
	nodes   []*netlab.Node
	dir     string // the agents' data folders
	secrets string // their secrets, on tmpfs
	agents  []*exec.Cmd
	ids     []string
	// joined are the IDs the nodes had, for Close to remove their
	// containers once Leave forgot them.
	joined []string
	// engine is where this host's Docker engine publishes the nodes'
	// ports, once ShareEngine made it theirs.
	engine netip.Addr
}

// HoldNodes makes the namespaces of nodes named names (the nodes' host
// names), with their data folders in dir, and starts nothing yet. On an
// error it removes what it made.
func HoldNodes(dir string, names ...string) (_ *Nodes, err error) {
	lab, err := netlab.NewNamed("shd")
	if err != nil {
		return nil, fmt.Errorf("extra nodes: %w", err)
	}
	n := &Nodes{lab: lab, dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	if n.secrets, err = os.MkdirTemp("/dev/shm", "shoal-demo-"); err != nil {
		return nil, fmt.Errorf("extra nodes: secrets folder: %w", err)
	}
	for _, name := range names {
		node, err := lab.AddNode(name)
		if err != nil {
			return nil, fmt.Errorf("extra nodes: %w", err)
		}
		n.nodes = append(n.nodes, node)
	}
	return n, nil
}

// ShareEngine lets the nodes run containers on this host's Docker engine,
// which lives in the host's network namespace, not in theirs: their
// agents have it publish their containers' ports on the host's address
// on the bridge (shoal agent --docker-addr), and each node forwards the
// TCP connections to its own address on the engine's range of host ports
// there (netlab's ForwardPorts), since the managers accept a node's
// endpoints only on its own address. Those ports then answer on the
// node's address as on a node with an engine of its own. Call it before
// Join, and only when the nodes run no process tasks: those listen on
// ports of the same range.
func (n *Nodes) ShareEngine() error {
	first, last, err := ephemeralPorts()
	if err != nil {
		return fmt.Errorf("extra nodes: %w", err)
	}
	for _, node := range n.nodes {
		if err := node.ForwardPorts(n.lab.HostAddr, first, last); err != nil {
			return fmt.Errorf("extra nodes: %w", err)
		}
	}
	n.engine = n.lab.HostAddr
	return nil
}

// ephemeralPorts is the range the host's Docker engine picks host ports
// from: the kernel's ephemeral range of the host's namespace.
func ephemeralPorts() (first, last uint16, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("ip_local_port_range %q", b)
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || lo > hi {
		return 0, 0, fmt.Errorf("ip_local_port_range %q", b)
	}
	return uint16(lo), uint16(hi), nil
}

// Addr is the host's address on the nodes' bridge: the manager's node
// address, which the nodes reach.
func (n *Nodes) Addr() netip.Addr { return n.lab.HostAddr }

// Names are the nodes' host names.
func (n *Nodes) Names() []string {
	var out []string
	for _, node := range n.nodes {
		out = append(out, node.Name)
	}
	return out
}

// IDs are the nodes' IDs in the cluster, once they joined.
func (n *Nodes) IDs() []string { return slices.Clone(n.ids) }

// Join starts a `shoal agent` (the program shoal) in each node that joins
// the manager at agentAddr with the worker token, with no ingress and no
// routing mesh of its own (the manager's serves the whole cluster), and
// waits until the cluster sees every node ready. Each agent's output goes
// to DIR/NAME.log.
//
// After ShareEngine, the agents run their containers on this host's
// Docker engine (each lists, adopts and removes only those labelled with
// its node ID).
func (n *Nodes) Join(ctx context.Context, c *client.Client, shoal, agentAddr, token string) error {
	for i, node := range n.nodes {
		// A short data folder: its socket's path must fit in a unix
		// address (108 bytes), under a TMPDIR that may be long.
		data := filepath.Join(n.dir, strconv.Itoa(i+1))
		if err := os.MkdirAll(data, 0o700); err != nil {
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
		logf, err := os.Create(filepath.Join(n.dir, node.Name+".log"))
		if err != nil {
			return fmt.Errorf("node %s: %w", node.Name, err)
		}
		cmd := exec.Command(shoal, "agent", "--manager", agentAddr, "--addr", node.Addr.String(), "--hostname", node.Name,
			"--data-dir", data, "--secrets-dir", n.secrets, "--ingress", "off", "--publish-addr", "off",
			"--drain-delay", "1s", "--log-level", "warn")
		if n.engine.IsValid() {
			cmd.Args = append(cmd.Args, "--docker-addr", n.engine.String())
		}
		// The token in the environment, not in ps; its own process group,
		// so that the terminal's Ctrl-C reaches the demo alone, which
		// stops the agents after their tasks.
		cmd.Env = append(os.Environ(), "SHOAL_JOIN_TOKEN="+token)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err = node.Start(cmd)
		logf.Close() // the agent holds its own
		if err != nil {
			return fmt.Errorf("node %s: start shoal agent: %w", node.Name, err)
		}
		n.agents = append(n.agents, cmd)
	}
	return n.waitReady(ctx, c)
}

func (n *Nodes) waitReady(ctx context.Context, c *client.Client) error {
	names := n.Names()
	for {
		nodes, err := c.NodeList(ctx)
		if err != nil {
			return err
		}
		var ids []string
		for _, nd := range nodes {
			if slices.Contains(names, nd.Description.Hostname) && nd.Status.State == api.NodeStateReady {
				ids = append(ids, nd.ID)
			}
		}
		if len(ids) == len(names) {
			n.ids = ids
			n.joined = ids
			return nil
		}
		select {
		case <-ctx.Done():
			// The logs go with the demo's cleanup: their ends go in the error.
			return fmt.Errorf("waiting for nodes %v to join: %w%s", names, ctx.Err(), n.logTails())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// logTails are the last lines of the agents' logs, for an error.
func (n *Nodes) logTails() string {
	var b strings.Builder
	for _, node := range n.nodes {
		data, err := os.ReadFile(filepath.Join(n.dir, node.Name+".log"))
		if err != nil {
			continue
		}
		if len(data) > 1500 {
			data = data[len(data)-1500:]
		}
		fmt.Fprintf(&b, "\n%s's agent logged:\n%s", node.Name, strings.TrimSpace(string(data)))
	}
	return b.String()
}

// Leave takes the nodes out of the cluster: it drains them and waits
// until their tasks stopped (an agent that stops leaves its tasks
// running, for its next start to adopt), kills the process of any task
// still live then, stops the agents, and removes the nodes from the
// cluster.
func (n *Nodes) Leave(ctx context.Context, c *client.Client) error {
	if len(n.agents) == 0 {
		return nil
	}
	var errs []error
	for _, id := range n.ids {
		errs = append(errs, setAvailability(ctx, c, id, api.AvailabilityDrain))
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	left, err := n.waitNoTasks(wctx, c)
	cancel()
	if err != nil {
		errs = append(errs, err)
	}
	for _, t := range left { // the last resort: the runtime's ID is its process group's
		if pid, err := strconv.Atoi(t.Status.RuntimeID); err == nil && pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	errs = append(errs, n.stopAgents())
	// A drained node's containers stop, but stay on the engine.
	errs = append(errs, removeNodeContainers(ctx, n.joined))
	for _, id := range n.ids {
		if err := c.NodeRemove(ctx, id, true); err != nil {
			errs = append(errs, fmt.Errorf("remove node %s: %w", id, err))
		}
	}
	n.ids = nil
	return errors.Join(errs...)
}

// waitNoTasks waits until no task on the nodes is live, and returns
// those that still are when ctx ends.
func (n *Nodes) waitNoTasks(ctx context.Context, c *client.Client) ([]*api.Task, error) {
	for {
		ts, err := c.TaskList(ctx, client.TaskFilter{})
		if err != nil {
			return nil, err
		}
		var live []*api.Task
		for _, t := range ts {
			if slices.Contains(n.ids, t.NodeID) && t.Live() {
				live = append(live, t)
			}
		}
		if len(live) == 0 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return live, fmt.Errorf("%d tasks still live on the extra nodes (%s first): %w", len(live), live[0].ID, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stopAgents stops the agents (SIGTERM, then SIGKILL after 10 seconds)
// and waits for them.
func (n *Nodes) stopAgents() error {
	var errs []error
	for _, cmd := range n.agents {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			errs = append(errs, fmt.Errorf("agent %d did not stop on SIGTERM: killed", cmd.Process.Pid))
		}
	}
	n.agents = nil
	return errors.Join(errs...)
}

// Close stops the agents if Leave did not, kills any other process left
// in the nodes, removes the containers of the nodes (the engine's
// containers labelled with their IDs), and removes the namespaces, the links, the firewall
// rules, and the agents' data and secrets folders.
func (n *Nodes) Close() error {
	errs := []error{n.stopAgents()}
	for range 20 { // SIGKILL is quick, but not synchronous
		pids := n.lab.Holders()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(n.joined) > 0 { // the agents stopped: their containers are no one's
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs = append(errs, removeNodeContainers(ctx, n.joined))
		cancel()
	}
	errs = append(errs, n.lab.Close())
	if n.secrets != "" {
		errs = append(errs, os.RemoveAll(n.secrets))
	}
	errs = append(errs, os.RemoveAll(n.dir))
	return errors.Join(errs...)
}

// String describes the nodes for the demo's output.
func (n *Nodes) String() string {
	var s []string
	for _, node := range n.nodes {
		s = append(s, fmt.Sprintf("%s (%v)", node.Name, node.Addr))
	}
	return fmt.Sprintf("%s, network namespaces on bridge %s (this host: %v)", strings.Join(s, " and "), n.lab.Bridge, n.lab.HostAddr)
}
