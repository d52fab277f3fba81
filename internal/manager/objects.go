package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
)

// proposeObject proposes one atomic op on the config, secret or network
// kind name and maps the refusals to the API's errors; verb says what is
// done ("create").
func (m *Manager) proposeObject(ctx context.Context, verb, kind, name string, op state.Op) error {
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{op}})
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", verb, kind, name, err)
	}
	switch {
	case res.Err == nil:
		return nil
	case errors.Is(res.Err, state.ErrNameConflict):
		return fmt.Errorf("%w: %s %q already exists", ErrConflict, kind, name)
	case errors.Is(res.Err, state.ErrInUse), errors.Is(res.Err, state.ErrVersionConflict):
		return fmt.Errorf("%w: %w", ErrConflict, res.Err)
	case errors.Is(res.Err, state.ErrNotFound):
		return res.Err
	}
	if err := allocErr(res.Err); err != nil {
		return err
	}
	return fmt.Errorf("%s %s %s: %w", verb, kind, name, res.Err)
}

// validateLabels refuses labels with an empty key, and more or longer
// labels than api.ValidateLabelLimits allows.
func validateLabels(kind string, labels map[string]string) error {
	if err := api.ValidateLabelLimits(kind+" labels", labels); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for k := range labels {
		if k == "" {
			return fmt.Errorf("%w: %s label with an empty name", ErrInvalid, kind)
		}
	}
	return nil
}

// validateData checks the size of a config's or secret's data.
func validateData(kind, name string, data []byte, limit int) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: %s %s: data is empty", ErrInvalid, kind, name)
	}
	if len(data) > limit {
		return fmt.Errorf("%w: %s %s: data is %d bytes, more than the %d KB a %s may hold", ErrInvalid, kind, name, len(data), limit/1024, kind)
	}
	return nil
}

// CreateConfig validates spec and stores the config.
func (m *Manager) CreateConfig(ctx context.Context, spec api.ConfigSpec) (*api.Config, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	if err := api.ValidateFileObjectName("config", spec.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := validateData("config", spec.Name, spec.Data, api.MaxConfigSize); err != nil {
		return nil, err
	}
	if err := validateLabels("config", spec.Labels); err != nil {
		return nil, err
	}
	if m.store.Read().ConfigByName(spec.Name) != nil {
		return nil, fmt.Errorf("%w: config %q already exists", ErrConflict, spec.Name)
	}
	c := &api.Config{ID: api.NewID(), Spec: spec}
	if err := m.proposeObject(ctx, "create", "config", spec.Name, state.Op{Kind: state.OpCreateConfig, Config: c}); err != nil {
		return nil, err
	}
	return m.store.Read().Config(c.ID), nil
}

// UpdateConfig changes the labels of the config ref names. Nothing else of
// a config changes: spec's name and data must be empty or the config's own.
// version, when not zero, must be the config's current Version.
func (m *Manager) UpdateConfig(ctx context.Context, ref string, version uint64, spec api.ConfigSpec) (*api.Config, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	cur, err := m.store.Read().FindConfig(ref)
	if err != nil {
		return nil, err
	}
	if spec.Name != "" && spec.Name != cur.Spec.Name {
		return nil, fmt.Errorf("%w: config %s: only labels can be changed (create a config with the new name)", ErrInvalid, cur.Spec.Name)
	}
	if len(spec.Data) > 0 && !bytes.Equal(spec.Data, cur.Spec.Data) {
		return nil, fmt.Errorf("%w: config %s: only labels can be changed (new data needs a new config)", ErrInvalid, cur.Spec.Name)
	}
	return m.UpdateConfigLabels(ctx, cur.ID, version, spec.Labels)
}

// UpdateConfigLabels replaces the labels of the config ref names.
func (m *Manager) UpdateConfigLabels(ctx context.Context, ref string, version uint64, labels map[string]string) (*api.Config, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	if err := validateLabels("config", labels); err != nil {
		return nil, err
	}
	cur, err := m.store.Read().FindConfig(ref)
	if err != nil {
		return nil, err
	}
	if maps.Equal(labels, cur.Spec.Labels) && (version == 0 || version == cur.Version) {
		return cur, nil
	}
	op := state.Op{Kind: state.OpUpdateConfigLabels, ID: cur.ID, ExpectVersion: version, Labels: labels}
	if err := m.proposeObject(ctx, "update", "config", cur.Spec.Name, op); err != nil {
		return nil, err
	}
	return m.store.Read().Config(cur.ID), nil
}

// RemoveConfig deletes the config ref names, unless a service uses it.
func (m *Manager) RemoveConfig(ctx context.Context, ref string) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	cur, err := m.store.Read().FindConfig(ref)
	if err != nil {
		return err
	}
	return m.proposeObject(ctx, "remove", "config", cur.Spec.Name, state.Op{Kind: state.OpRemoveConfig, ID: cur.ID})
}

// withoutData returns a copy of a secret without its data: what the API
// returns.
func withoutData(s *api.Secret) *api.Secret {
	if s == nil {
		return nil
	}
	c := *s
	c.Spec.Data = nil
	return &c
}

// CreateSecret validates spec, encrypts its data with the manager's key and
// stores the secret. The secret returned has no data.
func (m *Manager) CreateSecret(ctx context.Context, spec api.SecretSpec) (*api.Secret, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	if err := api.ValidateFileObjectName("secret", spec.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := validateData("secret", spec.Name, spec.Data, api.MaxSecretSize); err != nil {
		return nil, err
	}
	if err := validateLabels("secret", spec.Labels); err != nil {
		return nil, err
	}
	if m.store.Read().SecretByName(spec.Name) != nil {
		return nil, fmt.Errorf("%w: secret %q already exists", ErrConflict, spec.Name)
	}
	s := &api.Secret{ID: api.NewID(), Spec: spec}
	sealed, err := m.secretKey.Seal(spec.Data, secretkey.SecretContext(s.ID))
	if err != nil {
		return nil, err
	}
	s.Spec.Data = sealed
	if err := m.proposeObject(ctx, "create", "secret", spec.Name, state.Op{Kind: state.OpCreateSecret, Secret: s}); err != nil {
		return nil, err
	}
	return withoutData(m.store.Read().Secret(s.ID)), nil
}

// UpdateSecret changes the labels of the secret ref names. spec's name
// must be empty or the secret's own, and its data empty: a secret's data
// never changes.
func (m *Manager) UpdateSecret(ctx context.Context, ref string, version uint64, spec api.SecretSpec) (*api.Secret, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	cur, err := m.store.Read().FindSecret(ref)
	if err != nil {
		return nil, err
	}
	if spec.Name != "" && spec.Name != cur.Spec.Name {
		return nil, fmt.Errorf("%w: secret %s: only labels can be changed (create a secret with the new name)", ErrInvalid, cur.Spec.Name)
	}
	if len(spec.Data) > 0 {
		return nil, fmt.Errorf("%w: secret %s: only labels can be changed (new data needs a new secret)", ErrInvalid, cur.Spec.Name)
	}
	return m.UpdateSecretLabels(ctx, cur.ID, version, spec.Labels)
}

// UpdateSecretLabels replaces the labels of the secret ref names. The
// secret returned has no data.
func (m *Manager) UpdateSecretLabels(ctx context.Context, ref string, version uint64, labels map[string]string) (*api.Secret, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	if err := validateLabels("secret", labels); err != nil {
		return nil, err
	}
	cur, err := m.store.Read().FindSecret(ref)
	if err != nil {
		return nil, err
	}
	if maps.Equal(labels, cur.Spec.Labels) && (version == 0 || version == cur.Version) {
		return withoutData(cur), nil
	}
	op := state.Op{Kind: state.OpUpdateSecretLabels, ID: cur.ID, ExpectVersion: version, Labels: labels}
	if err := m.proposeObject(ctx, "update", "secret", cur.Spec.Name, op); err != nil {
		return nil, err
	}
	return withoutData(m.store.Read().Secret(cur.ID)), nil
}

// RemoveSecret deletes the secret ref names, unless a service uses it.
func (m *Manager) RemoveSecret(ctx context.Context, ref string) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	cur, err := m.store.Read().FindSecret(ref)
	if err != nil {
		return err
	}
	return m.proposeObject(ctx, "remove", "secret", cur.Spec.Name, state.Op{Kind: state.OpRemoveSecret, ID: cur.ID})
}

// CreateNetwork validates spec and stores the network; the driver defaults
// to overlay. The store gives it its subnet (spec's, or one from the
// cluster's pool), gateway and VXLAN ID as it applies the write.
func (m *Manager) CreateNetwork(ctx context.Context, spec api.NetworkSpec) (*api.Network, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	if err := api.ValidateName("network", spec.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if spec.Driver == "" {
		spec.Driver = api.DefaultNetworkDriver
	}
	if err := api.ValidateNetworkDriver(spec.Driver); err != nil {
		return nil, fmt.Errorf("%w: network %s: %w", ErrInvalid, spec.Name, err)
	}
	if err := validateLabels("network", spec.Labels); err != nil {
		return nil, err
	}
	if err := validateIPAM(&spec); err != nil {
		return nil, err
	}
	if m.store.Read().NetworkByName(spec.Name) != nil {
		return nil, fmt.Errorf("%w: network %q already exists", ErrConflict, spec.Name)
	}
	n := &api.Network{ID: api.NewID(), Spec: spec}
	if err := m.proposeObject(ctx, "create", "network", spec.Name, state.Op{Kind: state.OpCreateNetwork, Network: n}); err != nil {
		return nil, err
	}
	return m.store.Read().Network(n.ID), nil
}

// RemoveNetwork deletes the network ref names, unless a service attaches
// to it.
func (m *Manager) RemoveNetwork(ctx context.Context, ref string) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	cur, err := m.store.Read().FindNetwork(ref)
	if err != nil {
		return err
	}
	return m.proposeObject(ctx, "remove", "network", cur.Spec.Name, state.Op{Kind: state.OpRemoveNetwork, ID: cur.ID})
}
