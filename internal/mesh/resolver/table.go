package resolver

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// TTLs of cluster answers. A VIP lives as long as its service, so it is
// cached as long as Docker caches every answer (600 s). Task addresses change
// with every task replaced, and a stale one is a failed connection, so they
// are not cached at all; the resolver is on the same node, so asking again
// costs nothing.
const (
	vipTTL  = 600
	taskTTL = 0
)

// table is one immutable, indexed snapshot: everything a query needs is one
// map lookup per network of the querier, never a scan.
type table struct {
	// names holds, per network, the service names, "tasks." names and
	// aliases (lower-case, fully qualified).
	names map[nameKey]*record
	// stackNames holds the stack-local names ("a", "tasks.a"), per network
	// and stack, so only tasks of that stack see them.
	stackNames map[stackKey]*record
	byAddr     map[netip.Addr]*querier
	byTask     map[string]*querier
	ptr        map[addrKey]string
}

type nameKey struct {
	net  int
	name string
}

type stackKey struct {
	net         int
	stack, name string
}

type addrKey struct {
	net  int
	addr netip.Addr
}

// record is what a name answers on one network. addrs is shared by every
// query, so answers copy it before shuffling.
type record struct {
	addrs []netip.Addr
	ttl   uint32
}

// querier is a task asking a question: the networks it is on, in its order
// (the first network that knows a name answers, as in Docker), and whether
// any of them leads outside.
type querier struct {
	nets    []int
	stack   string
	forward bool
}

// buildTable validates s and indexes it. It fails on the first
// inconsistency, naming it, so a bad snapshot never replaces a good one.
func buildTable(s *Snapshot) (*table, error) {
	netIdx := make(map[string]int, len(s.Networks))
	for i, n := range s.Networks {
		if n.ID == "" {
			return nil, fmt.Errorf("network %d: empty ID", i)
		}
		if _, dup := netIdx[n.ID]; dup {
			return nil, fmt.Errorf("network %s: listed twice", n.ID)
		}
		netIdx[n.ID] = i
	}
	t := &table{
		names:      make(map[nameKey]*record),
		stackNames: make(map[stackKey]*record),
		byAddr:     make(map[netip.Addr]*querier, len(s.Tasks)),
		byTask:     make(map[string]*querier, len(s.Tasks)),
		ptr:        make(map[addrKey]string),
	}
	svcIdx := make(map[string]int, len(s.Services))
	for i := range s.Services {
		if err := checkService(&s.Services[i], netIdx); err != nil {
			return nil, err
		}
		if _, dup := svcIdx[s.Services[i].ID]; dup {
			return nil, fmt.Errorf("service %s: listed twice", s.Services[i].ID)
		}
		svcIdx[s.Services[i].ID] = i
	}
	// ready[service][network] are the addresses of the service's ready tasks.
	ready := make([]map[int][]netip.Addr, len(s.Services))
	for i := range s.Tasks {
		task := &s.Tasks[i]
		si, ok := svcIdx[task.Service]
		if !ok {
			return nil, fmt.Errorf("task %s: unknown service %q", task.ID, task.Service)
		}
		q, err := t.addQuerier(task, netIdx, s)
		if err != nil {
			return nil, err
		}
		q.stack = s.Services[si].Stack
		if task.Ready && ready[si] == nil {
			ready[si] = make(map[int][]netip.Addr)
		}
		for _, a := range task.Networks {
			ni := netIdx[a.Network]
			if task.Ready {
				ready[si][ni] = append(ready[si][ni], a.Addr)
			}
			// A name that is not a valid DNS name is left out of reverse
			// lookups rather than failing every answer that would carry it.
			if ptr := dns.Fqdn(task.Name + "." + s.Networks[ni].Name); task.Name != "" && isDomainName(ptr) {
				t.ptr[addrKey{ni, a.Addr}] = ptr
			}
		}
	}
	for i := range s.Services {
		t.addService(&s.Services[i], netIdx, ready[i])
	}
	return t, nil
}

func checkService(svc *Service, netIdx map[string]int) error {
	if svc.ID == "" || svc.Name == "" {
		return fmt.Errorf("service %q (%s): empty ID or name", svc.Name, svc.ID)
	}
	if !isDomainName(svc.Name) {
		return fmt.Errorf("service %s: name %q is not a valid DNS name", svc.ID, svc.Name)
	}
	switch svc.EndpointMode {
	case "", EndpointVIP, EndpointDNSRR:
	default:
		return fmt.Errorf("service %s: unknown endpoint mode %q (want vip or dnsrr)", svc.Name, svc.EndpointMode)
	}
	seen := make(map[string]bool, len(svc.Networks))
	for _, sn := range svc.Networks {
		if _, ok := netIdx[sn.Network]; !ok {
			return fmt.Errorf("service %s: unknown network %q", svc.Name, sn.Network)
		}
		if seen[sn.Network] {
			return fmt.Errorf("service %s: network %s listed twice", svc.Name, sn.Network)
		}
		seen[sn.Network] = true
		if sn.VIP.IsValid() && !sn.VIP.Is4() {
			return fmt.Errorf("service %s: VIP %s on network %s is not IPv4", svc.Name, sn.VIP, sn.Network)
		}
		for _, a := range sn.Aliases {
			if !isDomainName(a) {
				return fmt.Errorf("service %s: alias %q on network %s is not a valid DNS name", svc.Name, a, sn.Network)
			}
		}
	}
	return nil
}

// addQuerier indexes a task by its ID and each of its addresses.
func (t *table) addQuerier(task *Task, netIdx map[string]int, s *Snapshot) (*querier, error) {
	if task.ID == "" {
		return nil, errors.New("task with an empty ID")
	}
	if _, dup := t.byTask[task.ID]; dup {
		return nil, fmt.Errorf("task %s: listed twice", task.ID)
	}
	q := &querier{nets: make([]int, 0, len(task.Networks))}
	for _, a := range task.Networks {
		ni, ok := netIdx[a.Network]
		if !ok {
			return nil, fmt.Errorf("task %s: unknown network %q", task.ID, a.Network)
		}
		if !a.Addr.Is4() {
			return nil, fmt.Errorf("task %s: address %s on network %s is not IPv4", task.ID, a.Addr, a.Network)
		}
		if _, dup := t.byAddr[a.Addr]; dup {
			return nil, fmt.Errorf("task %s: address %s is already another task's", task.ID, a.Addr)
		}
		if slices.Contains(q.nets, ni) {
			return nil, fmt.Errorf("task %s: network %s listed twice", task.ID, a.Network)
		}
		t.byAddr[a.Addr] = q
		q.nets = append(q.nets, ni)
		q.forward = q.forward || !s.Networks[ni].Internal
	}
	t.byTask[task.ID] = q
	return q, nil
}

// addService registers the service's names on each of its networks. Names
// that several services share on a network (an alias) answer with all their
// addresses, as Docker does.
func (t *table) addService(svc *Service, netIdx map[string]int, ready map[int][]netip.Addr) {
	full := strings.ToLower(svc.Name)
	short := ""
	if svc.Stack != "" {
		short, _ = strings.CutPrefix(full, strings.ToLower(svc.Stack)+"_")
		if short == full {
			short = ""
		}
	}
	for _, sn := range svc.Networks {
		ni := netIdx[sn.Network]
		tasks := &record{addrs: ready[ni], ttl: taskTTL}
		name := tasks
		if svc.EndpointMode != EndpointDNSRR {
			name = &record{ttl: vipTTL}
			if sn.VIP.IsValid() {
				name.addrs = []netip.Addr{sn.VIP}
				t.ptr[addrKey{ni, sn.VIP}] = dns.Fqdn(svc.Name) // checked in checkService
			}
		}
		t.addName(ni, full, name)
		t.addName(ni, "tasks."+full, tasks)
		for _, a := range sn.Aliases {
			a = strings.ToLower(strings.TrimSuffix(a, "."))
			t.addName(ni, a, name)
			t.addName(ni, "tasks."+a, tasks)
		}
		if short != "" {
			t.stackNames[stackKey{ni, svc.Stack, short + "."}] = name
			t.stackNames[stackKey{ni, svc.Stack, "tasks." + short + "."}] = tasks
		}
	}
}

func (t *table) addName(ni int, name string, r *record) {
	k := nameKey{ni, name + "."}
	old, ok := t.names[k]
	if !ok {
		t.names[k] = r
		return
	}
	merged := &record{addrs: slices.Clone(old.addrs), ttl: min(old.ttl, r.ttl)}
	for _, a := range r.addrs {
		if !slices.Contains(merged.addrs, a) {
			merged.addrs = append(merged.addrs, a)
		}
	}
	t.names[k] = merged
}

// lookup finds what name (lower-case, fully qualified) answers for q: its
// own stack's stack-local names first, then full names and aliases, on the
// querier's networks in order. ok is false when no shared network knows it.
func (t *table) lookup(q *querier, name string) (r *record, ok bool) {
	if q.stack != "" {
		for _, ni := range q.nets {
			if r, ok := t.stackNames[stackKey{ni, q.stack, name}]; ok {
				return r, true
			}
		}
	}
	for _, ni := range q.nets {
		if r, ok := t.names[nameKey{ni, name}]; ok {
			return r, true
		}
	}
	return nil, false
}

// lookupPTR finds the name of an address on one of q's networks.
func (t *table) lookupPTR(q *querier, addr netip.Addr) (string, bool) {
	for _, ni := range q.nets {
		if n, ok := t.ptr[addrKey{ni, addr}]; ok {
			return n, true
		}
	}
	return "", false
}

// isDomainName reports whether s can be packed as a DNS name.
func isDomainName(s string) bool {
	_, ok := dns.IsDomainName(s)
	return ok && s != "" && s != "."
}
