//go:build linux

package netagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/miekg/dns"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/mesh"
	"github.com/shoalproject/shoal/internal/mesh/resolver"
	"github.com/shoalproject/shoal/internal/runtime"
)

// ResolverAddr is the address of the resolver inside every task, as in a
// Docker container.
var ResolverAddr = netip.MustParseAddr("127.0.0.11")

// Config sets up a node's networking.
type Config struct {
	// Mesh is the node's plumbing: its VTEP address above all.
	Mesh mesh.Config
	// Resolver configures the DNS resolver; its ResolvConf (default
	// /etc/resolv.conf) also gives the tasks' search domains.
	Resolver resolver.Config
	Logger   *slog.Logger
}

// Agent plumbs the tasks of one node into their networks. Its methods are
// safe for concurrent use.
type Agent struct {
	node   *mesh.Node
	vtep   netip.Addr
	dns    *resolver.Resolver
	log    *slog.Logger
	search []string

	ctx    context.Context // ends with Close: every DNS listener stops
	cancel context.CancelFunc

	mu    sync.Mutex // one task change at a time
	tasks map[string]*taskNet
	view  View // the cluster's state, last given
	// peers is, per network on the node, its remote tasks as last
	// written to its VXLAN device (peerKey).
	peers map[string]string
}

// taskNet is an attached task as this Agent knows it.
type taskNet struct {
	nets []string // its network IDs, sorted
	// netns is the path of its namespace through ns (/proc/self/fd/N):
	// the path the runtime gave (/proc/PID/ns/net) names another
	// namespace once the task's process is gone and its PID reused.
	netns string
	ns    *os.File
	// vips is its VIP rules as last written (render), once written.
	vips        string
	vipsWritten bool
	// stopDNS ends its DNS listener; done is closed once it has.
	stopDNS context.CancelFunc
	done    chan struct{}
}

// New opens the node's plumbing and its resolver. Close it when done; the
// plumbing stays for the next agent.
func New(cfg Config) (*Agent, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Mesh.Logger == nil {
		cfg.Mesh.Logger = log
	}
	if cfg.Resolver.Logger == nil {
		cfg.Resolver.Logger = log
	}
	if cfg.Resolver.ResolvConf == "" {
		cfg.Resolver.ResolvConf = resolver.DefaultResolvConf
	}
	dnsr, err := resolver.New(cfg.Resolver)
	if err != nil {
		return nil, fmt.Errorf("networking: %w", err)
	}
	var search []string
	if cc, err := dns.ClientConfigFromFile(cfg.Resolver.ResolvConf); err == nil {
		search = cc.Search
	}
	node, err := mesh.New(cfg.Mesh)
	if err != nil {
		return nil, fmt.Errorf("networking: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Agent{node: node, vtep: cfg.Mesh.VTEP, peers: map[string]string{}, dns: dnsr, log: log, search: search, ctx: ctx, cancel: cancel, tasks: map[string]*taskNet{}}, nil
}

// Close stops every DNS listener and releases the plumbing's handles. The
// plumbing itself stays, for the next agent to adopt.
func (a *Agent) Close() error {
	a.cancel()
	a.mu.Lock()
	for _, tn := range a.tasks {
		<-tn.done
		tn.ns.Close()
	}
	a.tasks = map[string]*taskNet{}
	a.mu.Unlock()
	return a.node.Close()
}

// Sandbox says how the runtime sets up a task on networks before it
// starts: resolv.conf pointing at the agent's resolver and, for a task on
// internal networks only, no network of the runtime's own. It returns nil
// for a task without networks, and an error naming a network the node was
// not told of.
func (a *Agent) Sandbox(t *api.Task, nets map[string]*api.Network) (*runtime.Sandbox, error) {
	if len(t.NetworksAttachments) == 0 {
		return nil, nil
	}
	isolated := true
	for _, na := range t.NetworksAttachments {
		nw := nets[na.Network.ID]
		if nw == nil {
			return nil, fmt.Errorf("network %s (%s) of the task is unknown on this node", na.Network.Name, na.Network.ID)
		}
		if !nw.Spec.Internal {
			isolated = false
		}
	}
	var addr netip.Addr
	if p, err := netip.ParsePrefix(firstAddr(t)); err == nil {
		addr = p.Addr()
	}
	return &runtime.Sandbox{Isolated: isolated, Addr: addr, DNS: runtime.DNS{
		Nameservers: []netip.Addr{ResolverAddr},
		Search:      slices.Clone(a.search),
		Options:     []string{"ndots:0"},
	}}, nil
}

// firstAddr is the task's address on its first network, "" if none.
func firstAddr(t *api.Task) string {
	if na := t.NetworksAttachments[0]; len(na.Addresses) > 0 {
		return na.Addresses[0]
	}
	return ""
}

// Attach plumbs a started task into its networks (a veth on each, in the
// order of its attachments) and serves its DNS at 127.0.0.11. A task
// already plumbed (found after an agent restart) keeps its interfaces and
// gets its DNS listener again. On failure nothing of the task is left.
func (a *Agent) Attach(req Request) error {
	t := req.Task
	nws, eps, err := plan(req)
	if err != nil {
		return fmt.Errorf("attach task %s: %w", t.ID, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if tn := a.tasks[t.ID]; tn != nil {
		a.stopDNS(t.ID, tn)
	}
	// Every step below, and every later VIP rewrite, enters the
	// namespace by this descriptor: the one the path named now.
	nsFile, err := os.Open(req.NetNS)
	if err != nil {
		return fmt.Errorf("attach task %s: open its network namespace: %w", t.ID, err)
	}
	nsPath := fmt.Sprintf("/proc/self/fd/%d", nsFile.Fd())
	attached := false
	defer func() {
		if !attached {
			nsFile.Close()
		}
	}()
	// A network made for this task alone goes again if the task cannot
	// be plumbed.
	fail := func(err error) error { return errors.Join(err, a.removeUnused()) }
	for _, nw := range nws {
		if err := a.node.EnsureNetwork(nw); err != nil {
			return fail(fmt.Errorf("attach task %s: %w", t.ID, err))
		}
	}
	want := netIDs(eps)
	// A network new on the node learns at once where its tasks on other
	// nodes are.
	if err := a.syncPeers(want); err != nil {
		return fail(fmt.Errorf("attach task %s: %w", t.ID, err))
	}
	obs, err := a.node.Observe()
	if err != nil {
		return fail(fmt.Errorf("attach task %s: %w", t.ID, err))
	}
	if have, ok := obs.Tasks[t.ID]; !ok || !slices.Equal(have, want) {
		if ok {
			if err := a.node.Detach(t.ID); err != nil {
				return fail(err)
			}
		}
		if err := a.node.Attach(t.ID, nsPath, eps); err != nil {
			return fail(err)
		}
	}
	tn, err := a.serveDNS(t.ID, nsPath)
	if err != nil {
		return errors.Join(fmt.Errorf("attach task %s: %w", t.ID, err), a.detachLocked(t.ID))
	}
	tn.nets, tn.netns, tn.ns = want, nsPath, nsFile
	if err := a.programVIPs(tn); err != nil {
		tn.stopDNS()
		<-tn.done
		return errors.Join(fmt.Errorf("attach task %s: %w", t.ID, err), a.detachLocked(t.ID))
	}
	a.tasks[t.ID] = tn
	attached = true
	return nil
}

// programVIPs writes the task's VIP rules from the view, if they changed.
func (a *Agent) programVIPs(tn *taskNet) error {
	rules := vipRules(a.view, tn.nets)
	text := render(rules)
	if tn.vipsWritten && tn.vips == text {
		return nil
	}
	if err := writeVIPs(tn.netns, rules); err != nil {
		return err
	}
	tn.vips, tn.vipsWritten = text, true
	return nil
}

// plan turns a request into the networks to ensure and the task's
// endpoints.
func plan(req Request) ([]mesh.Network, []mesh.Endpoint, error) {
	var nws []mesh.Network
	var eps []mesh.Endpoint
	for _, na := range req.Task.NetworksAttachments {
		nw := req.Networks[na.Network.ID]
		if nw == nil {
			return nil, nil, fmt.Errorf("network %s (%s) is unknown on this node", na.Network.Name, na.Network.ID)
		}
		mn, err := meshNetwork(nw)
		if err != nil {
			return nil, nil, err
		}
		if len(na.Addresses) == 0 {
			return nil, nil, fmt.Errorf("no address on network %s", nw.Spec.Name)
		}
		addr, err := netip.ParsePrefix(na.Addresses[0])
		if err != nil {
			return nil, nil, fmt.Errorf("address on network %s: %w", nw.Spec.Name, err)
		}
		nws = append(nws, mn)
		eps = append(eps, mesh.Endpoint{NetworkID: nw.ID, Address: addr, NoDefaultRoute: req.EngineRoute})
	}
	return nws, eps, nil
}

// meshNetwork is a network as the node plumbs it.
func meshNetwork(nw *api.Network) (mesh.Network, error) {
	subnet, gateway := nw.Subnet()
	if subnet == "" || nw.DriverState == nil {
		return mesh.Network{}, fmt.Errorf("network %s has no subnet or VXLAN ID allocated", nw.Spec.Name)
	}
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return mesh.Network{}, fmt.Errorf("network %s: subnet: %w", nw.Spec.Name, err)
	}
	gw, err := netip.ParseAddr(gateway)
	if err != nil {
		return mesh.Network{}, fmt.Errorf("network %s: gateway: %w", nw.Spec.Name, err)
	}
	return mesh.Network{ID: nw.ID, VNI: nw.DriverState.VNI, Subnet: p, Gateway: gw, Internal: nw.Spec.Internal}, nil
}

func netIDs(eps []mesh.Endpoint) []string {
	out := make([]string, 0, len(eps))
	for _, ep := range eps {
		out = append(out, ep.NetworkID)
	}
	sort.Strings(out)
	return out
}

// serveDNS listens in the task's namespace on 127.0.0.11 (ports the
// kernel picks), maps 127.0.0.11:53 there to them, and serves the
// resolver on them until the task is detached or the Agent closes.
func (a *Agent) serveDNS(taskID, nsPath string) (*taskNet, error) {
	l, err := resolver.ListenInNamespace(nsPath, net.JoinHostPort(ResolverAddr.String(), "0"))
	if err != nil {
		return nil, err
	}
	l.Task = taskID
	udp := uint16(l.UDP.LocalAddr().(*net.UDPAddr).Port)
	tcp := uint16(l.TCP.Addr().(*net.TCPAddr).Port)
	if err := redirectDNS(nsPath, udp, tcp); err != nil {
		l.UDP.Close()
		l.TCP.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(a.ctx)
	tn := &taskNet{stopDNS: cancel, done: make(chan struct{})}
	go func() {
		defer close(tn.done)
		if err := a.dns.Serve(ctx, l); err != nil {
			a.log.Warn("task DNS stopped", "task", taskID, "err", err)
		}
	}()
	return tn, nil
}

// stopDNS ends a task's DNS listener and waits for it.
func (a *Agent) stopDNS(taskID string, tn *taskNet) {
	tn.stopDNS()
	<-tn.done
	tn.ns.Close()
	delete(a.tasks, taskID)
}

// Detach stops a task's DNS and removes its interfaces, and the networks
// no other task of the node is on. Detaching a task not attached is no
// error.
func (a *Agent) Detach(taskID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.detachLocked(taskID)
}

func (a *Agent) detachLocked(taskID string) error {
	if tn := a.tasks[taskID]; tn != nil {
		a.stopDNS(taskID, tn)
	}
	err := a.node.Detach(taskID)
	return errors.Join(err, a.removeUnused())
}

// removeUnused removes the networks no attached task is on. The kernel
// says which tasks are attached, so the tasks an agent restart found but
// has not adopted yet keep theirs.
func (a *Agent) removeUnused() error {
	obs, err := a.node.Observe()
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, nets := range obs.Tasks {
		for _, id := range nets {
			used[id] = true
		}
	}
	var errs []error
	for _, nw := range obs.Networks {
		if !used[nw.ID] {
			delete(a.peers, nw.ID)
			errs = append(errs, a.node.RemoveNetwork(nw.ID))
		}
	}
	return errors.Join(errs...)
}

// Prune removes the plumbing of every task keep says no: what an agent
// restart found of tasks the cluster no longer runs here, and the
// networks no task needs any more.
func (a *Agent) Prune(keep func(taskID string) bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	obs, err := a.node.Observe()
	if err != nil {
		return err
	}
	var errs []error
	for id := range obs.Tasks {
		if a.tasks[id] == nil && !keep(id) {
			a.log.Info("removing the network plumbing of a task no longer here", "task", id)
			errs = append(errs, a.node.Detach(id))
		}
	}
	for _, id := range obs.Namespaces {
		if a.tasks[id] == nil && !keep(id) {
			errs = append(errs, a.node.DeleteNamespace(id))
		}
	}
	errs = append(errs, a.removeUnused())
	return errors.Join(errs...)
}

// SetView gives the node the cluster's current state: what its resolver
// answers from, what each attached task's virtual IPs balance over, and
// where the tasks of its networks on other nodes are (Peers).
func (a *Agent) SetView(v View) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.view = v
	errs := []error{a.dns.Update(DNSSnapshot(v)), a.syncAllPeers()}
	for id, tn := range a.tasks {
		if err := a.programVIPs(tn); err != nil {
			errs = append(errs, fmt.Errorf("task %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
