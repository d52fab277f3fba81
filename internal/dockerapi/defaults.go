package dockerapi

import (
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/api"
)

// insertDefaults fills what a spec leaves out with the values shoal (like
// Swarm) uses for it, as dockerd does for inspect?insertDefaults=true: the
// docker CLI asks for them in `service inspect`, and its templates
// ({{.Spec.UpdateConfig.Monitor}}) and --pretty display read them.
// Unlike swarmkit's merge, a field the spec sets is never replaced, so a
// Parallelism of 0 (all at once) stays 0.
func insertDefaults(s *swarm.ServiceSpec) {
	ts := &s.TaskTemplate
	if cs := ts.ContainerSpec; cs != nil {
		if cs.StopGracePeriod == nil {
			d := api.DefaultStopGracePeriod
			cs.StopGracePeriod = &d
		}
		if cs.DNSConfig == nil {
			cs.DNSConfig = &swarm.DNSConfig{}
		}
	}
	fillEmpty(ts)
	if ts.RestartPolicy == nil {
		ts.RestartPolicy = &swarm.RestartPolicy{}
	}
	if ts.RestartPolicy.Condition == "" {
		ts.RestartPolicy.Condition = swarm.RestartPolicyConditionAny
	}
	if ts.RestartPolicy.Delay == nil {
		d := api.DefaultRestartDelay
		ts.RestartPolicy.Delay = &d
	}
	if ts.RestartPolicy.MaxAttempts == nil {
		var zero uint64
		ts.RestartPolicy.MaxAttempts = &zero
	}
	s.UpdateConfig = updateDefaults(s.UpdateConfig)
	s.RollbackConfig = updateDefaults(s.RollbackConfig)
	// The docker CLI always sends the endpoint mode; a spec without says
	// the default.
	if s.EndpointSpec == nil {
		s.EndpointSpec = &swarm.EndpointSpec{}
	}
	if s.EndpointSpec.Mode == "" {
		s.EndpointSpec.Mode = swarm.ResolutionModeVIP
	}
}

// updateDefaults returns c with Swarm's defaults where it says nothing.
func updateDefaults(c *swarm.UpdateConfig) *swarm.UpdateConfig {
	if c == nil {
		return &swarm.UpdateConfig{Parallelism: api.DefaultUpdateParallel, FailureAction: swarm.UpdateFailureActionPause,
			Monitor: api.DefaultUpdateMonitor, Order: swarm.UpdateOrderStopFirst}
	}
	out := *c
	if out.FailureAction == "" {
		out.FailureAction = swarm.UpdateFailureActionPause
	}
	if out.Monitor == 0 {
		out.Monitor = api.DefaultUpdateMonitor
	}
	if out.Order == "" {
		out.Order = swarm.UpdateOrderStopFirst
	}
	return &out
}

// fillEmpty gives ts the empty resources and placement the docker CLI
// always sends, which Swarm keeps and shows.
func fillEmpty(ts *swarm.TaskSpec) {
	if ts.Resources == nil {
		ts.Resources = &swarm.ResourceRequirements{}
	}
	if ts.Resources.Limits == nil {
		ts.Resources.Limits = &swarm.Limit{}
	}
	if ts.Resources.Reservations == nil {
		ts.Resources.Reservations = &swarm.Resources{}
	}
	if ts.Placement == nil {
		ts.Placement = &swarm.Placement{}
	}
}
