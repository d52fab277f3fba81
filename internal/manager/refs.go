package manager

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// resolveRefs checks that every config, secret and network spec names
// exists, and records the IDs of its configs and secrets. It refuses two
// files at the same target.
func (m *Manager) resolveRefs(spec *api.ServiceSpec) error {
	tx := m.store.Read()
	c := &spec.TaskTemplate.ContainerSpec
	targets := map[string]string{}
	file := func(kind, name, target string) error {
		if other, ok := targets[target]; ok {
			return fmt.Errorf("%w: service %s: %s %q and %s both go to %s", ErrInvalid, spec.Name, kind, name, other, target)
		}
		targets[target] = fmt.Sprintf("%s %q", kind, name)
		return nil
	}
	if len(c.Configs) > 0 {
		c.Configs = slices.Clone(c.Configs)
	}
	for i := range c.Configs {
		r := &c.Configs[i]
		cfg := tx.ConfigByName(r.ConfigName)
		if cfg == nil {
			return fmt.Errorf("%w: service %s: config %q not found", ErrInvalid, spec.Name, r.ConfigName)
		}
		r.ConfigID = cfg.ID
		if err := file("config", r.ConfigName, r.Target()); err != nil {
			return err
		}
	}
	if len(c.Secrets) > 0 {
		c.Secrets = slices.Clone(c.Secrets)
	}
	for i := range c.Secrets {
		r := &c.Secrets[i]
		sec := tx.SecretByName(r.SecretName)
		if sec == nil {
			return fmt.Errorf("%w: service %s: secret %q not found", ErrInvalid, spec.Name, r.SecretName)
		}
		r.SecretID = sec.ID
		if err := file("secret", r.SecretName, r.Target()); err != nil {
			return err
		}
	}
	for _, a := range spec.TaskTemplate.Networks {
		if tx.NetworkByName(a.Target) == nil && tx.Network(a.Target) == nil {
			return fmt.Errorf("%w: service %s: network %q not found", ErrInvalid, spec.Name, a.Target)
		}
	}
	return nil
}

// refsCheck returns the op that makes a service write fail if a config,
// secret or network it names is gone by the time it applies; none for a
// service that names none.
func refsCheck(svc *api.Service) []state.Op {
	t := &svc.Spec.TaskTemplate
	if len(t.ContainerSpec.Configs) == 0 && len(t.ContainerSpec.Secrets) == 0 && len(t.Networks) == 0 {
		return nil
	}
	return []state.Op{{Kind: state.OpCheckRefs, Service: svc}}
}

// writeErr words the refusal of a service write: one whose references went
// missing meanwhile is the caller's mistake, as if they had been missing
// from the start; others say what was being done.
func writeErr(what string, err error) error {
	if errors.Is(err, state.ErrMissingRef) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if mapped := allocErr(err); mapped != nil {
		return mapped
	}
	return fmt.Errorf("%s: %w", what, err)
}

// allocErr maps the FSM's allocation refusals to the API's errors: a port
// or subnet another object holds, or nothing left to hand out, clash with
// the cluster's state; content the FSM found wrong is the caller's
// mistake. Others give nil.
func allocErr(err error) error {
	switch {
	case errors.Is(err, state.ErrPortInUse), errors.Is(err, state.ErrOverlap), errors.Is(err, state.ErrExhausted):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case errors.Is(err, state.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
