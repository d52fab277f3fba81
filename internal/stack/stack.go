// Package stack deploys a compose stack onto a cluster through the API, as
// `docker stack deploy` does: it plans what to create, update and remove
// (checking external objects first, so a deploy that cannot succeed
// changes nothing), then applies the plan. Deploying the same files again
// changes nothing.
package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/compose"
	"github.com/shoalproject/shoal/internal/ingress"
)

// Action is what a plan does to one object.
type Action string

// Plan actions.
const (
	Create    Action = "create"
	Update    Action = "update"
	Unchanged Action = "unchanged"
	Remove    Action = "remove"
)

// Step is one object's part of a plan.
type Step struct {
	Action Action
	Kind   string // "service", "config", "secret", "network"
	Name   string
	// Change says what an update changes ("image, env").
	Change string

	service  *api.ServiceSpec
	current  *api.Service
	config   *api.ConfigSpec
	secret   *api.SecretSpec
	network  *api.NetworkSpec
	removeID string
}

// String reads like "update service signup_web (image)".
func (s Step) String() string {
	out := fmt.Sprintf("%s %s %s", s.Action, s.Kind, s.Name)
	if s.Change != "" {
		out += " (" + s.Change + ")"
	}
	return out
}

// Current is the service an update step replaces, as the plan read it;
// nil for other steps.
func (s Step) Current() *api.Service { return s.current }

// Plan is what a deploy will do, in order: networks, configs, secrets,
// services, then removals.
type Plan struct {
	Stack string
	Steps []Step
}

// Changed lists the services the plan creates or updates.
func (p *Plan) Changed() []string {
	var out []string
	for _, s := range p.Steps {
		if s.Kind == "service" && (s.Action == Create || s.Action == Update) {
			out = append(out, s.Name)
		}
	}
	return out
}

// Make plans deploying st. With prune, services of the stack that the
// files no longer have are removed. It fails, listing every problem, when
// external objects are missing or a stack's config or secret changed
// content (they are immutable: give new content a new name).
func Make(ctx context.Context, c *client.Client, st *compose.Stack, prune bool) (*Plan, error) {
	services, err := c.ServiceList(ctx)
	if err != nil {
		return nil, err
	}
	configs, err := c.ConfigList(ctx)
	if err != nil {
		return nil, err
	}
	secrets, err := c.SecretList(ctx)
	if err != nil {
		return nil, err
	}
	networks, err := c.NetworkList(ctx)
	if err != nil {
		return nil, err
	}
	p := &Plan{Stack: st.Name}
	var problems []error

	haveNet := map[string]*api.Network{}
	for _, n := range networks {
		haveNet[n.Spec.Name] = n
	}
	for _, n := range st.Networks {
		cur := haveNet[n.Name]
		var foreign error
		if cur != nil && !n.External {
			foreign = notOwned("network", n.Name, st.Name, cur.Spec.Labels)
		}
		switch {
		case n.External && cur == nil:
			problems = append(problems, fmt.Errorf("network %q not found: it is external, create it first (shoal network create %s)", n.Name, n.Name))
		case cur == nil:
			spec := n.Spec()
			p.Steps = append(p.Steps, Step{Action: Create, Kind: "network", Name: n.Name, network: &spec})
		case foreign != nil:
			problems = append(problems, foreign)
		default:
			p.Steps = append(p.Steps, Step{Action: Unchanged, Kind: "network", Name: n.Name})
		}
	}

	haveCfg := map[string]*api.Config{}
	for _, o := range configs {
		haveCfg[o.Spec.Name] = o
	}
	for _, o := range st.Configs {
		cur := haveCfg[o.Name]
		var foreign error
		if cur != nil && !o.External {
			foreign = notOwned("config", o.Name, st.Name, cur.Spec.Labels)
		}
		switch {
		case o.External && cur == nil:
			problems = append(problems, fmt.Errorf("config %q not found: it is external, create it first (shoal config create %s FILE)", o.Name, o.Name))
		case o.External:
		case cur == nil:
			spec := o.ConfigSpec()
			p.Steps = append(p.Steps, Step{Action: Create, Kind: "config", Name: o.Name, config: &spec})
		case foreign != nil:
			problems = append(problems, foreign)
		case cur.Spec.Data != nil && !bytes.Equal(cur.Spec.Data, o.Data):
			problems = append(problems, fmt.Errorf("config %q changed content: configs are immutable; give the new content a new name", o.Name))
		default:
			p.Steps = append(p.Steps, Step{Action: Unchanged, Kind: "config", Name: o.Name})
		}
	}

	haveSec := map[string]*api.Secret{}
	for _, o := range secrets {
		haveSec[o.Spec.Name] = o
	}
	for _, o := range st.Secrets {
		cur := haveSec[o.Name]
		var foreign error
		if cur != nil && !o.External {
			foreign = notOwned("secret", o.Name, st.Name, cur.Spec.Labels)
		}
		switch {
		case o.External && cur == nil:
			problems = append(problems, fmt.Errorf("secret %q not found: it is external, create it first (shoal secret create %s FILE)", o.Name, o.Name))
		case o.External:
		case cur == nil:
			spec := o.SecretSpec()
			p.Steps = append(p.Steps, Step{Action: Create, Kind: "secret", Name: o.Name, secret: &spec})
		case foreign != nil:
			problems = append(problems, foreign)
		default:
			// A secret's content cannot be read back to compare; a stack
			// that changes a secret's content must rename it, as in Swarm.
			p.Steps = append(p.Steps, Step{Action: Unchanged, Kind: "secret", Name: o.Name})
		}
	}
	haveSvc := map[string]*api.Service{}
	for _, s := range services {
		haveSvc[s.Spec.Name] = s
	}
	for _, spec := range st.Services {
		if cur := haveSvc[spec.Name]; cur != nil {
			if err := notOwned("service", spec.Name, st.Name, cur.Spec.Labels); err != nil {
				problems = append(problems, err)
			}
		}
	}
	problems = append(problems, subnetProblems(st, haveNet)...)
	problems = append(problems, portClashes(st, services)...)
	problems = append(problems, sharedMiddlewares(st, services)...)
	if len(problems) > 0 {
		return nil, fmt.Errorf("stack %s cannot be deployed, nothing was changed:\n  %w", st.Name, joinIndented(problems))
	}

	want := map[string]bool{}
	for _, i := range definersFirst(st) {
		spec := st.Services[i]
		want[spec.Name] = true
		cur := haveSvc[spec.Name]
		switch {
		case cur == nil:
			p.Steps = append(p.Steps, Step{Action: Create, Kind: "service", Name: spec.Name, service: &spec})
		case api.SameJSON(withoutRefIDs(spec), withoutRefIDs(cur.Spec)):
			p.Steps = append(p.Steps, Step{Action: Unchanged, Kind: "service", Name: spec.Name})
		default:
			// The file wins, replicas included, as with docker stack deploy.
			was, will := withoutRefIDs(cur.Spec), withoutRefIDs(spec)
			p.Steps = append(p.Steps, Step{Action: Update, Kind: "service", Name: spec.Name, service: &spec, current: cur, Change: api.DescribeChange(&was, &will)})
		}
	}
	if prune {
		for _, s := range services {
			if s.Spec.Labels[api.StackNamespaceLabel] == st.Name && !want[s.Spec.Name] {
				p.Steps = append(p.Steps, Step{Action: Remove, Kind: "service", Name: s.Spec.Name, removeID: s.ID})
			}
		}
	}
	return p, nil
}

// sharedMiddlewares checks the middlewares the stack's routers name
// that their own labels do not define against the other services, the
// stack's and the cluster's: the managers refuse a router naming one no
// service defines, and would half-way.
func sharedMiddlewares(st *compose.Stack, services []*api.Service) []error {
	var specs []*api.ServiceSpec
	ours := map[string]bool{}
	for i := range st.Services {
		specs = append(specs, &st.Services[i])
		ours[st.Services[i].Name] = true
	}
	for _, s := range services {
		if !ours[s.Spec.Name] {
			specs = append(specs, &s.Spec)
		}
	}
	var out []error
	for i := range st.Services {
		spec := &st.Services[i]
		if err := ingress.ValidateService(spec, ingress.OthersOf(specs, spec.Name)); err != nil {
			out = append(out, fmt.Errorf("service %s: %w", spec.Name, err))
		}
	}
	return out
}

// definersFirst orders the stack's services for their writes: those whose
// labels define middlewares first, since the managers check that a
// middleware another names exists.
func definersFirst(st *compose.Stack) []int {
	order := make([]int, len(st.Services))
	for i := range order {
		order[i] = i
	}
	defines := func(i int) bool { return ingress.DefinesMiddlewares(st.Services[i].Labels) }
	sort.SliceStable(order, func(a, b int) bool { return defines(order[a]) && !defines(order[b]) })
	return order
}

// portClashes finds the ports the stack publishes that services outside
// it hold, so a deploy that the managers would refuse half-way changes
// nothing. The managers check again as they apply each write.
func portClashes(st *compose.Stack, services []*api.Service) []error {
	ours := map[string]bool{}
	for _, s := range st.Services {
		ours[s.Name] = true
	}
	var problems []error
	for _, s := range st.Services {
		if s.EndpointSpec == nil {
			continue
		}
		for _, p := range s.EndpointSpec.Ports {
			for _, o := range services {
				if ours[o.Spec.Name] || o.Endpoint == nil {
					continue
				}
				for _, q := range o.Endpoint.Ports {
					if api.PortsClash(p, q) {
						problems = append(problems, fmt.Errorf("service %s: published port %d/%s is already in use by service %s", s.Name, p.PublishedPort, p.Proto(), o.Spec.Name))
					}
				}
			}
		}
	}
	return problems
}

// withoutRefIDs returns spec without the config and secret IDs the
// managers fill in, so a spec from a file compares with a stored one.
func withoutRefIDs(spec api.ServiceSpec) api.ServiceSpec {
	c := &spec.TaskTemplate.ContainerSpec
	configs := append([]api.ConfigReference(nil), c.Configs...)
	for i := range configs {
		configs[i].ConfigID = ""
	}
	secrets := append([]api.SecretReference(nil), c.Secrets...)
	for i := range secrets {
		secrets[i].SecretID = ""
	}
	c.Configs, c.Secrets = configs, secrets
	return spec
}

func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// Apply carries out the plan, reporting each step to progress.
func Apply(ctx context.Context, c *client.Client, p *Plan, progress func(Step)) error {
	for _, s := range p.Steps {
		var err error
		switch {
		case s.Action == Unchanged:
		case s.Kind == "network" && s.Action == Create:
			_, err = c.NetworkCreate(ctx, *s.network)
		case s.Kind == "config" && s.Action == Create:
			_, err = c.ConfigCreate(ctx, *s.config)
		case s.Kind == "secret" && s.Action == Create:
			_, err = c.SecretCreate(ctx, *s.secret)
		case s.Kind == "service" && s.Action == Create:
			_, err = c.ServiceCreate(ctx, *s.service)
		case s.Kind == "service" && s.Action == Update:
			_, err = c.ServiceUpdate(ctx, s.current.ID, 0, *s.service)
		case s.Kind == "service" && s.Action == Remove:
			err = c.ServiceRemove(ctx, s.removeID)
		}
		if err != nil {
			return fmt.Errorf("%s %s %s: %w", s.Action, s.Kind, s.Name, err)
		}
		if progress != nil {
			progress(s)
		}
	}
	return nil
}

// ErrEmptyStack is Teardown's error for a stack that has nothing.
var ErrEmptyStack = errors.New("nothing found in stack")

// Teardown deletes a stack: its services first, then the secrets, configs
// and networks it created. External objects stay. It fails with
// ErrEmptyStack if the stack has nothing.
func Teardown(ctx context.Context, c *client.Client, name string, progress func(kind, name string)) error {
	services, err := c.ServiceList(ctx)
	if err != nil {
		return err
	}
	found := false
	var errs []error
	for _, s := range services {
		if s.Spec.Labels[api.StackNamespaceLabel] == name {
			found = true
			if err := c.ServiceRemove(ctx, s.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
			} else if progress != nil {
				progress("service", s.Spec.Name)
			}
		}
	}
	secrets, err := c.SecretList(ctx)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if s.Spec.Labels[api.StackNamespaceLabel] == name {
			found = true
			if err := c.SecretRemove(ctx, s.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove secret %s: %w", s.Spec.Name, err))
			} else if progress != nil {
				progress("secret", s.Spec.Name)
			}
		}
	}
	configs, err := c.ConfigList(ctx)
	if err != nil {
		return err
	}
	for _, s := range configs {
		if s.Spec.Labels[api.StackNamespaceLabel] == name {
			found = true
			if err := c.ConfigRemove(ctx, s.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove config %s: %w", s.Spec.Name, err))
			} else if progress != nil {
				progress("config", s.Spec.Name)
			}
		}
	}
	networks, err := c.NetworkList(ctx)
	if err != nil {
		return err
	}
	for _, s := range networks {
		if s.Spec.Labels[api.StackNamespaceLabel] == name {
			found = true
			if err := c.NetworkRemove(ctx, s.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove network %s: %w", s.Spec.Name, err))
			} else if progress != nil {
				progress("network", s.Spec.Name)
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrEmptyStack, name)
	}
	return errors.Join(errs...)
}
