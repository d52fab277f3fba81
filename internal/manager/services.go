package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// Errors the control operations return; the API maps them to status codes.
var (
	// ErrInvalid marks a request that is wrong as sent.
	ErrInvalid = errors.New("invalid request")
	// ErrConflict marks a request that clashes with the current state.
	ErrConflict = errors.New("conflict")
)

// CreateService validates spec and creates the service.
func (m *Manager) CreateService(ctx context.Context, spec api.ServiceSpec) (*api.Service, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if m.store.Read().ServiceByName(spec.Name) != nil {
		return nil, fmt.Errorf("%w: service %q already exists", ErrConflict, spec.Name)
	}
	svc := &api.Service{ID: api.NewID(), Spec: spec, SpecVersion: 1, Revision: 1,
		History: []api.ServiceVersion{{Revision: 1, SpecVersion: 1, CreatedAt: m.cfg.Clock.Now().UTC(), Change: "created", Spec: spec}}}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpCreateService, Service: svc}}})
	if err != nil {
		return nil, fmt.Errorf("create service %s: %w", spec.Name, err)
	}
	if res.Err != nil {
		if errors.Is(res.Err, state.ErrNameConflict) {
			return nil, fmt.Errorf("%w: service %q already exists", ErrConflict, spec.Name)
		}
		return nil, fmt.Errorf("create service %s: %w", spec.Name, res.Err)
	}
	return m.store.Read().Service(svc.ID), nil
}

// UpdateService replaces the spec of the service ref names. version, when
// not zero, must be the service's current Version.
func (m *Manager) UpdateService(ctx context.Context, ref string, version uint64, spec api.ServiceSpec) (*api.Service, error) {
	cur, err := m.store.Read().FindService(ref)
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if spec.Name != cur.Spec.Name {
		return nil, fmt.Errorf("%w: a service's name cannot be changed (%s to %s)", ErrInvalid, cur.Spec.Name, spec.Name)
	}
	if spec.Mode.IsGlobal() != cur.Spec.Mode.IsGlobal() {
		return nil, fmt.Errorf("%w: a service's mode cannot be changed between replicated and global", ErrInvalid)
	}
	if version != 0 && version != cur.Version {
		return nil, fmt.Errorf("%w: service %s is at version %d, not %d: read it again and retry", ErrConflict, cur.Spec.Name, cur.Version, version)
	}
	if sameJSON(spec, cur.Spec) {
		return cur, nil
	}
	next := m.nextVersion(cur, spec, api.DescribeChange(&cur.Spec, &spec))
	if next.SpecVersion != cur.SpecVersion {
		// A new update starts; a paused one is superseded by it.
		next.UpdateStatus = nil
	}
	return m.writeService(ctx, cur, next)
}

// nextVersion returns cur with spec as its new spec: the old one becomes
// the previous spec, the history gains an entry, and tasks get a new spec
// version if what they run changed.
func (m *Manager) nextVersion(cur *api.Service, spec api.ServiceSpec, change string) *api.Service {
	next := *cur
	prev := cur.Spec
	next.Spec = spec
	next.PreviousSpec = &prev
	if taskSpecChanged(&prev, &spec) {
		next.SpecVersion = cur.SpecVersion + 1
	}
	next.Revision = cur.Revision + 1
	hist := append([]api.ServiceVersion(nil), cur.History...)
	hist = append(hist, api.ServiceVersion{Revision: next.Revision, SpecVersion: next.SpecVersion, CreatedAt: m.cfg.Clock.Now().UTC(), Change: change, Spec: spec})
	if len(hist) > api.MaxServiceHistory {
		hist = hist[len(hist)-api.MaxServiceHistory:]
	}
	next.History = hist
	return &next
}

// writeService stores next over cur, failing if cur changed meanwhile.
func (m *Manager) writeService(ctx context.Context, cur, next *api.Service) (*api.Service, error) {
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpUpdateService, Service: next, ExpectVersion: cur.Version}}})
	if err != nil {
		return nil, fmt.Errorf("update service %s: %w", cur.Spec.Name, err)
	}
	if res.Err != nil {
		if errors.Is(res.Err, state.ErrVersionConflict) {
			return nil, fmt.Errorf("%w: %w", ErrConflict, res.Err)
		}
		return nil, fmt.Errorf("update service %s: %w", cur.Spec.Name, res.Err)
	}
	return m.store.Read().Service(cur.ID), nil
}

// RollbackService puts back the service's previous spec, or, when to is
// not zero, the spec of that revision from its history. Tasks are
// replaced with the rollback config.
func (m *Manager) RollbackService(ctx context.Context, ref string, to uint64) (*api.Service, error) {
	cur, err := m.store.Read().FindService(ref)
	if err != nil {
		return nil, err
	}
	var target *api.ServiceSpec
	change := "rollback to the previous spec"
	if to == 0 {
		if cur.PreviousSpec == nil {
			return nil, fmt.Errorf("%w: service %s has no previous spec to roll back to", ErrInvalid, cur.Spec.Name)
		}
		target = cur.PreviousSpec
	} else {
		for i := range cur.History {
			if cur.History[i].Revision == to {
				target = &cur.History[i].Spec
			}
		}
		if target == nil {
			first, last := uint64(0), uint64(0)
			if n := len(cur.History); n > 0 {
				first, last = cur.History[0].Revision, cur.History[n-1].Revision
			}
			return nil, fmt.Errorf("%w: service %s has no revision %d (history keeps %d to %d)", ErrInvalid, cur.Spec.Name, to, first, last)
		}
		change = fmt.Sprintf("rollback to revision %d", to)
	}
	spec := *target
	next := m.nextVersion(cur, spec, change)
	if next.SpecVersion == cur.SpecVersion {
		// Same tasks: nothing to roll out, the spec changes in place.
		next.UpdateStatus = cur.UpdateStatus
		return m.writeService(ctx, cur, next)
	}
	now := m.cfg.Clock.Now().UTC()
	next.UpdateStatus = &api.UpdateStatus{State: api.UpdateStateRollbackStarted, StartedAt: &now, Message: "manually requested rollback"}
	return m.writeService(ctx, cur, next)
}

// taskSpecChanged reports whether tasks made from a would differ from
// tasks made from b (a replica count change does not count).
func taskSpecChanged(a, b *api.ServiceSpec) bool {
	return !sameJSON(a.TaskTemplate, b.TaskTemplate) ||
		!sameJSON(a.EndpointSpec, b.EndpointSpec) ||
		!maps.Equal(a.Labels, b.Labels)
}

// sameJSON reports whether a and b have the same JSON form. Stored specs
// come back from the Raft log, where an empty map or list and an unset one
// are the same; reflect.DeepEqual would tell them apart and see a change.
func sameJSON(a, b any) bool {
	ja, err := json.Marshal(a)
	if err != nil {
		return false
	}
	jb, err := json.Marshal(b)
	return err == nil && bytes.Equal(ja, jb)
}

// RemoveService deletes the service ref names; its tasks are stopped.
func (m *Manager) RemoveService(ctx context.Context, ref string) error {
	cur, err := m.store.Read().FindService(ref)
	if err != nil {
		return err
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpDeleteService, ID: cur.ID}}})
	if err != nil {
		return fmt.Errorf("remove service %s: %w", cur.Spec.Name, err)
	}
	if res.Err != nil && !errors.Is(res.Err, state.ErrNotFound) {
		return fmt.Errorf("remove service %s: %w", cur.Spec.Name, res.Err)
	}
	return nil
}
