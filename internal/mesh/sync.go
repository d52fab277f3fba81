package mesh

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Task is a task's plumbing: its network namespace and its endpoints.
type Task struct {
	ID string
	// NetNS is the path of the task's network namespace (Attach).
	NetNS     string
	Endpoints []Endpoint
}

// State is what a node should hold: its networks, the tasks of other nodes
// on each (by network ID), and its attached tasks.
type State struct {
	Networks []Network
	Peers    map[string][]RemoteEndpoint
	Tasks    []Task
}

// Observed is the plumbing found in the kernel.
type Observed struct {
	// Networks are the networks whose bridges are on the node.
	Networks []Network
	// Tasks maps each attached task to the networks it is attached to.
	Tasks map[string][]string
	// Namespaces are the tasks that have a namespace from NewNamespace.
	Namespaces []string
}

// Observe returns the plumbing the kernel holds: what an agent finds after
// a restart.
func (n *Node) Observe() (Observed, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.observe()
}

func (n *Node) observe() (Observed, error) {
	obs := Observed{Tasks: map[string][]string{}}
	nws, err := n.networks()
	if err != nil {
		return obs, err
	}
	obs.Networks = nws
	ls, err := links(n.nl)
	if err != nil {
		return obs, err
	}
	for _, l := range ls {
		if kv := parseAlias(l.Attrs().Alias); kv != nil && kv["task"] != "" {
			obs.Tasks[kv["task"]] = append(obs.Tasks[kv["task"]], kv["net"])
		}
	}
	for _, nets := range obs.Tasks {
		sort.Strings(nets)
	}
	obs.Namespaces, err = n.namespaces()
	return obs, err
}

// Sync makes the node's plumbing the desired state, from whatever the
// kernel holds: after an agent restart it adopts what is still wanted and
// removes the rest (networks, their rules, peers, task interfaces and
// namespaces of tasks not listed). A task whose interfaces do not match
// its endpoints is attached again. Sync goes on past a failure and reports
// all of them; running it again retries what failed.
func (n *Node) Sync(desired State) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	wantNet := map[string]bool{}
	for _, nw := range desired.Networks {
		wantNet[nw.ID] = true
		if err := nw.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.ensureNetwork(nw); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.setPeers(nw.ID, desired.Peers[nw.ID]); err != nil {
			errs = append(errs, err)
		}
	}

	obs, err := n.observe()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	// Tasks before the removal of networks: removing a network takes its
	// task interfaces with it, so tasks are detached (and their errors
	// reported) by their own ID first.
	wantTask := map[string]bool{}
	for _, t := range desired.Tasks {
		wantTask[t.ID] = true
		var nets []string
		for _, ep := range t.Endpoints {
			nets = append(nets, ep.NetworkID)
		}
		sort.Strings(nets)
		have, attached := obs.Tasks[t.ID]
		if attached && slices.Equal(have, nets) && n.portsOnBridges(t.ID) {
			continue
		}
		if attached {
			n.log.Info("mesh: attaching a task again, its interfaces do not match", "task", t.ID, "have", have, "want", nets)
			if err := n.detach(t.ID); err != nil {
				errs = append(errs, fmt.Errorf("detach task %s: %w", t.ID, err))
				continue
			}
		}
		if err := n.attachChecked(t); err != nil {
			errs = append(errs, err)
		}
	}
	for id := range obs.Tasks {
		if !wantTask[id] {
			n.log.Info("mesh: detaching a task no longer wanted", "task", id)
			if err := n.detach(id); err != nil {
				errs = append(errs, fmt.Errorf("detach task %s: %w", id, err))
			}
		}
	}
	for _, id := range obs.Namespaces {
		if !wantTask[id] {
			if err := n.DeleteNamespace(id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	ruleNets, err := n.ruleNetworks()
	if err != nil {
		errs = append(errs, err)
		ruleNets = map[string]bool{}
	}
	for _, nw := range obs.Networks {
		ruleNets[nw.ID] = true
	}
	for id := range ruleNets {
		if !wantNet[id] {
			n.log.Info("mesh: removing a network no longer wanted", "network", id)
			if err := n.removeNetwork(id); err != nil {
				errs = append(errs, fmt.Errorf("remove network %s: %w", id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// attachChecked validates a task as Attach does and attaches it.
func (n *Node) attachChecked(t Task) error {
	if err := validTask(t.ID, t.Endpoints); err != nil {
		return err
	}
	if err := n.attach(t.ID, t.NetNS, t.Endpoints); err != nil {
		return fmt.Errorf("attach task %s: %w", t.ID, err)
	}
	return nil
}

// portsOnBridges reports whether each of a task's host-side veths is a
// port of its network's bridge.
func (n *Node) portsOnBridges(taskID string) bool {
	ls, err := n.taskLinks(taskID)
	if err != nil {
		return false
	}
	for _, l := range ls {
		nw, err := n.network(parseAlias(l.Attrs().Alias)["net"])
		if err != nil {
			return false
		}
		br, err := n.nl.LinkByName(bridgeName(nw.VNI))
		if err != nil || l.Attrs().MasterIndex != br.Attrs().Index {
			return false
		}
	}
	return true
}
