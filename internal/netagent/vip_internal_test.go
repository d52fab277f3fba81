//go:build linux

package netagent

import (
	"testing"

	"github.com/shoalproject/shoal/api"
)

func viewTask(id, svc, net, addr string, st api.TaskState, desired api.TaskState, health string) *api.Task {
	return &api.Task{ID: id, ServiceID: svc, ServiceName: svc, Slot: 1, DesiredState: desired,
		Status:              api.TaskStatus{State: st, Health: health},
		NetworksAttachments: []api.NetworkAttachmentStatus{{Network: api.NetworkRef{ID: net}, Addresses: []string{addr}}}}
}

func viewService(id, mode string, vips map[string]string, nets ...string) *api.Service {
	s := &api.Service{ID: id, Endpoint: &api.Endpoint{}}
	s.Spec.Name = id
	s.Spec.EndpointSpec = &api.EndpointSpec{Mode: mode}
	for _, n := range nets {
		s.Spec.TaskTemplate.Networks = append(s.Spec.TaskTemplate.Networks, api.NetworkAttachment{Target: n})
	}
	for n, a := range vips {
		s.Endpoint.VirtualIPs = append(s.Endpoint.VirtualIPs, api.EndpointVirtualIP{NetworkID: n, Addr: a})
	}
	return s
}

// A task's VIP rules hold the VIPs of its networks only, each over the
// service's ready tasks on that network: not a task starting, unhealthy
// or marked to stop; a dnsrr service has none.
func TestVIPRulesAreTheReadyTasksOfTheTasksNetworks(t *testing.T) {
	run, want := api.TaskStateRunning, api.TaskStateRunning
	v := View{
		Services: []*api.Service{
			viewService("a", "vip", map[string]string{"n1": "10.0.1.2/24", "n2": "10.0.2.2/24"}, "n1", "n2"),
			viewService("d", "dnsrr", nil, "n1"),
			viewService("e", "", map[string]string{"n1": "10.0.1.9/24"}, "n1"),
		},
		Tasks: []*api.Task{
			viewTask("a1", "a", "n1", "10.0.1.5/24", run, want, ""),
			viewTask("a2", "a", "n1", "10.0.1.4/24", run, want, api.HealthHealthy),
			viewTask("a3", "a", "n1", "10.0.1.6/24", run, want, api.HealthUnhealthy),
			viewTask("a4", "a", "n1", "10.0.1.7/24", run, api.TaskStateShutdown, ""),
			viewTask("a5", "a", "n1", "10.0.1.8/24", api.TaskStateStarting, want, ""),
			viewTask("a6", "a", "n2", "10.0.2.5/24", run, want, ""),
			viewTask("d1", "d", "n1", "10.0.1.10/24", run, want, ""),
		},
	}
	got := render(vipRules(v, []string{"n1"}))
	if want := "10.0.1.2>[10.0.1.4 10.0.1.5];10.0.1.9>[];"; got != want {
		t.Errorf("rules of a task on n1 = %s, want %s", got, want)
	}
	if got := render(vipRules(v, []string{"n3"})); got != "" {
		t.Errorf("rules of a task on n3 = %s, want none", got)
	}
}
