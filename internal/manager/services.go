package manager

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
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
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	if err := m.validateSpec(&spec); err != nil {
		return nil, err
	}
	if err := m.resolveRefs(&spec); err != nil {
		return nil, err
	}
	if m.store.Read().ServiceByName(spec.Name) != nil {
		return nil, fmt.Errorf("%w: service %q already exists", ErrConflict, spec.Name)
	}
	svc := &api.Service{ID: api.NewID(), Spec: spec, SpecVersion: 1, Revision: 1,
		History: []api.ServiceVersion{{Revision: 1, SpecVersion: 1, CreatedAt: m.cfg.Clock.Now().UTC(), Change: "created", Spec: spec}}}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: append(refsCheck(svc), state.Op{Kind: state.OpCreateService, Service: svc})})
	if err != nil {
		return nil, fmt.Errorf("create service %s: %w", spec.Name, err)
	}
	if res.Err != nil {
		if errors.Is(res.Err, state.ErrNameConflict) {
			return nil, fmt.Errorf("%w: service %q already exists", ErrConflict, spec.Name)
		}
		return nil, writeErr("create service "+spec.Name, res.Err)
	}
	return m.store.Read().Service(svc.ID), nil
}

// UpdateService replaces the spec of the service ref names. version, when
// not zero, must be the service's current Version; when zero, a write that
// races with a controller's (an update status) is retried on a fresh read.
func (m *Manager) UpdateService(ctx context.Context, ref string, version uint64, spec api.ServiceSpec) (*api.Service, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	if err := m.validateSpec(&spec); err != nil {
		return nil, err
	}
	if err := m.resolveRefs(&spec); err != nil {
		return nil, err
	}
	return m.retryConflicts(ctx, version == 0, func() (*api.Service, error) {
		cur, err := m.store.Read().FindService(ref)
		if err != nil {
			return nil, err
		}
		if spec.Name != cur.Spec.Name {
			return nil, fmt.Errorf("%w: a service's name cannot be changed (%s to %s)", ErrInvalid, cur.Spec.Name, spec.Name)
		}
		if spec.Mode.Name() != cur.Spec.Mode.Name() {
			return nil, fmt.Errorf("%w: a service's mode cannot be changed (%s to %s): remove the service and create it again", ErrInvalid, cur.Spec.Mode.Name(), spec.Mode.Name())
		}
		if version != 0 && version != cur.Version {
			return nil, fmt.Errorf("%w: service %s is at version %d, not %d: read it again and retry", ErrConflict, cur.Spec.Name, cur.Version, version)
		}
		var next *api.Service
		switch {
		case !api.SameJSON(spec, cur.Spec):
			next = m.nextVersion(cur, spec, api.DescribeChange(&cur.Spec, &spec))
		case cur.UpdatePaused():
			// An identical update resumes a paused one, as in Swarm;
			// the spec has no new revision.
			same := *cur
			next = &same
		default:
			return cur, nil
		}
		api.StartUpdate(cur, next, m.cfg.Clock.Now().UTC())
		return m.writeService(ctx, cur, next)
	})
}

// validateSpec checks a spec and its routing labels, so a label that does
// not parse fails the deploy, naming the label; a middleware its routers
// name must be defined by its labels or another service's. (Removing the
// other service later is not refused: the router then answers 503.)
func (m *Manager) validateSpec(spec *api.ServiceSpec) error {
	var specs []*api.ServiceSpec
	for _, s := range m.store.Read().Services() {
		specs = append(specs, &s.Spec)
	}
	if err := errors.Join(spec.Validate(), spec.EndpointSpec.ValidateEndpoint(), ingress.ValidateService(spec, ingress.OthersOf(specs, spec.Name))); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// retryConflicts runs write, and again (a few times) when it lost a race
// with another writer and retry is set.
func (m *Manager) retryConflicts(ctx context.Context, retry bool, write func() (*api.Service, error)) (*api.Service, error) {
	for attempt := 0; ; attempt++ {
		svc, err := write()
		if err == nil || !retry || attempt == 4 || !errors.Is(err, state.ErrVersionConflict) || ctx.Err() != nil {
			return svc, err
		}
	}
}

// nextVersion is api.NextVersion at the manager's clock.
func (m *Manager) nextVersion(cur *api.Service, spec api.ServiceSpec, change string) *api.Service {
	return api.NextVersion(cur, spec, change, m.cfg.Clock.Now().UTC())
}

// writeService stores next over cur, failing if cur changed meanwhile.
func (m *Manager) writeService(ctx context.Context, cur, next *api.Service) (*api.Service, error) {
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: append(refsCheck(next), state.Op{Kind: state.OpUpdateService, Service: next, ExpectVersion: cur.Version})})
	if err != nil {
		return nil, fmt.Errorf("update service %s: %w", cur.Spec.Name, err)
	}
	if res.Err != nil {
		if errors.Is(res.Err, state.ErrVersionConflict) {
			return nil, fmt.Errorf("%w: %w", ErrConflict, res.Err)
		}
		return nil, writeErr("update service "+cur.Spec.Name, res.Err)
	}
	return m.store.Read().Service(cur.ID), nil
}

// RollbackService puts back the service's previous spec, or, when to is
// not zero, the spec of that revision from its history. Tasks are
// replaced with the rollback config.
func (m *Manager) RollbackService(ctx context.Context, ref string, to uint64) (*api.Service, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	return m.retryConflicts(ctx, true, func() (*api.Service, error) { return m.rollbackOnce(ctx, ref, to) })
}

func (m *Manager) rollbackOnce(ctx context.Context, ref string, to uint64) (*api.Service, error) {
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

// RemoveService deletes the service ref names; its tasks are stopped.
func (m *Manager) RemoveService(ctx context.Context, ref string) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	cur, err := m.store.Read().FindService(ref)
	if err != nil {
		return err
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpDeleteService, ID: cur.ID}}})
	if err != nil {
		return fmt.Errorf("remove service %s: %w", cur.Spec.Name, err)
	}
	// Not found here means another remove won the race since the lookup:
	// only one of them removed the service, so only one says it did.
	if res.Err != nil {
		return fmt.Errorf("remove service %s: %w", cur.Spec.Name, res.Err)
	}
	return nil
}
