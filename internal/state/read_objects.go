package state

import (
	"fmt"

	"github.com/shoalproject/shoal/api"
)

// get returns the object of table whose index equals arg, or the zero T.
func get[T any](r *ReadTx, table, index, arg string) T {
	var zero T
	raw, err := r.txn.First(table, index, arg)
	if err != nil || raw == nil {
		return zero
	}
	return raw.(T)
}

// all returns every object of table, by ID.
func all[T any](r *ReadTx, table string) []T {
	it, err := r.txn.Get(table, "id")
	if err != nil {
		return nil
	}
	var out []T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(T))
	}
	return out
}

// find resolves a reference the way the docker CLI does: a full ID, an
// exact name, or a unique ID prefix.
func find[T comparable](r *ReadTx, table, kind, ref string) (T, error) {
	var zero T
	if ref == "" {
		return zero, fmt.Errorf("%s %q: %w", kind, ref, ErrNotFound)
	}
	if o := get[T](r, table, "id", ref); o != zero {
		return o, nil
	}
	if o := get[T](r, table, "name", ref); o != zero {
		return o, nil
	}
	it, err := r.txn.Get(table, "id_prefix", ref)
	if err != nil {
		return zero, err
	}
	found := zero
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if found != zero {
			return zero, fmt.Errorf("%w: %s %q matches more than one ID", ErrAmbiguous, kind, ref)
		}
		found = raw.(T)
	}
	if found == zero {
		return zero, fmt.Errorf("%s %s: %w", kind, ref, ErrNotFound)
	}
	return found, nil
}

// Config returns the config with that ID, or nil. Its data is as given.
func (r *ReadTx) Config(id string) *api.Config { return get[*api.Config](r, tableConfigs, "id", id) }

// ConfigByName returns the config with that exact name, or nil.
func (r *ReadTx) ConfigByName(name string) *api.Config {
	return get[*api.Config](r, tableConfigs, "name", name)
}

// FindConfig resolves a config ID, name or unique ID prefix.
func (r *ReadTx) FindConfig(ref string) (*api.Config, error) {
	return find[*api.Config](r, tableConfigs, "config", ref)
}

// Configs returns every config.
func (r *ReadTx) Configs() []*api.Config { return all[*api.Config](r, tableConfigs) }

// Secret returns the secret with that ID, or nil. Its data is encrypted.
func (r *ReadTx) Secret(id string) *api.Secret { return get[*api.Secret](r, tableSecrets, "id", id) }

// SecretByName returns the secret with that exact name, or nil.
func (r *ReadTx) SecretByName(name string) *api.Secret {
	return get[*api.Secret](r, tableSecrets, "name", name)
}

// FindSecret resolves a secret ID, name or unique ID prefix.
func (r *ReadTx) FindSecret(ref string) (*api.Secret, error) {
	return find[*api.Secret](r, tableSecrets, "secret", ref)
}

// Secrets returns every secret, data encrypted.
func (r *ReadTx) Secrets() []*api.Secret { return all[*api.Secret](r, tableSecrets) }

// Network returns the network with that ID, or nil.
func (r *ReadTx) Network(id string) *api.Network {
	return get[*api.Network](r, tableNetworks, "id", id)
}

// NetworkByName returns the network with that exact name, or nil.
func (r *ReadTx) NetworkByName(name string) *api.Network {
	return get[*api.Network](r, tableNetworks, "name", name)
}

// FindNetwork resolves a network ID, name or unique ID prefix.
func (r *ReadTx) FindNetwork(ref string) (*api.Network, error) {
	return find[*api.Network](r, tableNetworks, "network", ref)
}

// Networks returns every network.
func (r *ReadTx) Networks() []*api.Network { return all[*api.Network](r, tableNetworks) }

// specUses reports whether a service spec names the object: kind is
// api.EventConfig or api.EventSecret (named by name), or api.EventNetwork
// (by name or ID).
func specUses(s *api.ServiceSpec, kind, name, id string) bool {
	switch kind {
	case api.EventConfig:
		for _, ref := range s.TaskTemplate.ContainerSpec.Configs {
			if ref.ConfigName == name {
				return true
			}
		}
	case api.EventSecret:
		for _, ref := range s.TaskTemplate.ContainerSpec.Secrets {
			if ref.SecretName == name {
				return true
			}
		}
	case api.EventNetwork:
		for _, a := range s.TaskTemplate.Networks {
			if a.Target == name || (id != "" && a.Target == id) {
				return true
			}
		}
	}
	return false
}
