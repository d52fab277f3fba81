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
	svc := &api.Service{ID: api.NewID(), Spec: spec, SpecVersion: 1}
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
	next := *cur
	prev := cur.Spec
	next.Spec = spec
	next.PreviousSpec = &prev
	if taskSpecChanged(&prev, &spec) {
		next.SpecVersion = cur.SpecVersion + 1
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpUpdateService, Service: &next, ExpectVersion: cur.Version}}})
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
