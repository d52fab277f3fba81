package ui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
)

// The state the page draws, shaped here so that the script only renders.
type state struct {
	Nodes    []nodeView    `json:"nodes"`
	Stacks   []stackView   `json:"stacks"`
	Services []serviceView `json:"services"`
	// Routes is the ingress's routing table (routes.go), Ingress false
	// when the manager runs no ingress.
	Routes  []routeView `json:"routes"`
	Ingress bool        `json:"ingress"`
}

type nodeView struct {
	ID           string `json:"id"`
	Hostname     string `json:"hostname"`
	Role         string `json:"role"`
	Availability string `json:"availability"`
	Status       string `json:"status"`
	Addr         string `json:"addr"`
	Message      string `json:"message,omitempty"`
	Tasks        int    `json:"tasks"`
	Version      string `json:"version,omitempty"`
}

type stackView struct {
	Name     string `json:"name"`
	Services int    `json:"services"`
	Running  int    `json:"running"`
	Desired  int    `json:"desired"`
}

type serviceView struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	Stack    string        `json:"stack,omitempty"`
	Mode     string        `json:"mode"`
	Image    string        `json:"image"`
	Ports    string        `json:"ports,omitempty"`
	Running  int           `json:"running"`
	Desired  int           `json:"desired"`
	Scalable bool          `json:"scalable"`
	Revision uint64        `json:"revision"`
	Update   *updateView   `json:"update,omitempty"`
	History  []versionView `json:"history"`
	Tasks    []taskView    `json:"tasks"`
}

// updateView is a rolling update's state; Done of Total tasks run the
// service's current spec.
type updateView struct {
	State    string `json:"state"`
	Message  string `json:"message,omitempty"`
	Done     int    `json:"done"`
	Total    int    `json:"total"`
	Active   bool   `json:"active"`
	Rollback bool   `json:"rollback"`
}

type versionView struct {
	Revision  uint64    `json:"revision"`
	Change    string    `json:"change"`
	CreatedAt time.Time `json:"createdAt"`
	Current   bool      `json:"current"`
}

type taskView struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Node    string       `json:"node"`
	State   string       `json:"state"`
	Desired string       `json:"desired"`
	Health  string       `json:"health,omitempty"`
	Error   string       `json:"error,omitempty"`
	Since   time.Time    `json:"since"`
	Current bool         `json:"current"`
	History []statusView `json:"history"`
}

type statusView struct {
	State string    `json:"state"`
	Time  time.Time `json:"time"`
	Err   string    `json:"err,omitempty"`
}

// buildState shapes the API's objects for the page.
func buildState(nodes []*api.Node, services []*api.Service, tasks []*api.Task) state {
	st := state{Nodes: []nodeView{}, Stacks: []stackView{}, Services: []serviceView{}, Routes: []routeView{}}
	hostname := map[string]string{}
	live := map[string]int{}
	byService := map[string][]*api.Task{}
	for _, t := range tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
		if t.Live() {
			live[t.NodeID]++
		}
	}
	for _, n := range nodes {
		hostname[n.ID] = n.Description.Hostname
		st.Nodes = append(st.Nodes, nodeView{ID: n.ID, Hostname: n.Description.Hostname, Role: n.Spec.Role, Availability: n.Spec.Availability,
			Status: n.Status.State, Addr: n.Status.Addr, Message: n.Status.Message, Tasks: live[n.ID], Version: n.Description.EngineVersion})
	}
	slices.SortFunc(st.Nodes, func(a, b nodeView) int { return cmp.Compare(a.Hostname+a.ID, b.Hostname+b.ID) })
	stacks := map[string]*stackView{}
	for _, s := range services {
		v := viewService(s, byService[s.ID], hostname)
		st.Services = append(st.Services, v)
		if v.Stack != "" {
			sv := stacks[v.Stack]
			if sv == nil {
				sv = &stackView{Name: v.Stack}
				stacks[v.Stack] = sv
			}
			sv.Services++
			sv.Running += v.Running
			sv.Desired += v.Desired
		}
	}
	slices.SortFunc(st.Services, func(a, b serviceView) int { return cmp.Compare(a.Name, b.Name) })
	for _, sv := range stacks {
		st.Stacks = append(st.Stacks, *sv)
	}
	slices.SortFunc(st.Stacks, func(a, b stackView) int { return cmp.Compare(a.Name, b.Name) })
	return st
}

func viewService(s *api.Service, tasks []*api.Task, hostname map[string]string) serviceView {
	v := serviceView{ID: s.ID, Name: s.Spec.Name, Stack: s.Spec.Labels[api.StackNamespaceLabel], Revision: s.Revision,
		Image: image(s.Spec.TaskTemplate.ContainerSpec), History: []versionView{}, Tasks: []taskView{}}
	m := s.Spec.Mode
	switch {
	case m.Global != nil:
		v.Mode = "global"
	case m.ReplicatedJob != nil:
		v.Mode, v.Scalable = "replicated job", true
	case m.GlobalJob != nil:
		v.Mode = "global job"
	default:
		v.Mode, v.Scalable = "replicated", true
	}
	v.Running, v.Desired = s.ReplicaCounts(tasks)
	var ports []string
	if s.Spec.EndpointSpec != nil {
		for _, p := range s.Spec.EndpointSpec.Ports {
			if p.PublishedPort != 0 {
				ports = append(ports, portString(p))
			}
		}
	}
	v.Ports = strings.Join(ports, ", ")
	if us := s.UpdateStatus; us != nil {
		u := &updateView{State: us.State, Message: us.Message, Total: v.Desired,
			Active:   us.State == api.UpdateStateUpdating || us.State == api.UpdateStateRollbackStarted,
			Rollback: strings.HasPrefix(us.State, "rollback")}
		for _, t := range tasks {
			if t.SpecVersion == s.SpecVersion && t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning {
				u.Done++
			}
		}
		u.Done = min(u.Done, u.Total)
		v.Update = u
	}
	for i := len(s.History) - 1; i >= 0; i-- {
		h := s.History[i]
		v.History = append(v.History, versionView{Revision: h.Revision, Change: h.Change, CreatedAt: h.CreatedAt, Current: h.Revision == s.Revision})
	}
	for _, t := range tasks {
		tv := taskView{ID: t.ID, Name: t.Name(), Node: cmp.Or(hostname[t.NodeID], t.NodeID), State: t.Status.State.String(),
			Desired: t.DesiredState.String(), Health: t.Status.Health, Error: t.Status.Err, Since: t.Status.Timestamp,
			Current: t.DesiredState <= api.TaskStateRunning, History: []statusView{}}
		for _, h := range t.History {
			tv.History = append(tv.History, statusView{State: h.State.String(), Time: h.Timestamp, Err: h.Err})
		}
		v.Tasks = append(v.Tasks, tv)
	}
	// Live tasks first, by name; then the ended ones, newest first.
	slices.SortFunc(v.Tasks, func(a, b taskView) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		if a.Current {
			return cmp.Compare(a.Name, b.Name)
		}
		return b.Since.Compare(a.Since)
	})
	return v
}

func image(c api.ContainerSpec) string {
	if c.Image != "" {
		return c.Image
	}
	return strings.Join(append(append([]string(nil), c.Command...), c.Args...), " ")
}

func portString(p api.PortConfig) string {
	return fmt.Sprintf("%d→%d/%s", p.PublishedPort, p.TargetPort, cmp.Or(p.Protocol, "tcp"))
}
