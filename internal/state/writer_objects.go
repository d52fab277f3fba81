package state

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shoalproject/shoal/api"
)

// applyObject applies the ops on configs, secrets and networks.
func (w *writer) applyObject(op *Op) error {
	switch op.Kind {
	case OpCreateConfig:
		return w.createConfig(op.Config)
	case OpRemoveConfig:
		return w.removeConfig(op.ID)
	case OpUpdateConfigLabels:
		return w.updateConfigLabels(op.ID, op.Labels, op.ExpectVersion)
	case OpCreateSecret:
		return w.createSecret(op.Secret)
	case OpRemoveSecret:
		return w.removeSecret(op.ID)
	case OpUpdateSecretLabels:
		return w.updateSecretLabels(op.ID, op.Labels, op.ExpectVersion)
	case OpCreateNetwork:
		return w.createNetwork(op.Network)
	case OpRemoveNetwork:
		return w.removeNetwork(op.ID)
	case OpCheckRefs:
		return w.checkRefs(op.Service)
	case OpInitCluster:
		return w.initCluster(op.Pool)
	}
	return fmt.Errorf("unknown op %q", op.Kind)
}

// event records a change. Configs and secrets go without their data: events
// are read by whoever follows the cluster, and a secret's data must not
// reach them, even encrypted.
func (w *writer) event(typ, action, id string, obj any) {
	ev := api.Event{Index: w.index, Type: typ, Action: action, ID: id}
	switch o := obj.(type) {
	case *api.Config:
		c := *o
		c.Spec.Data = nil
		ev.Config = &c
	case *api.Secret:
		s := *o
		s.Spec.Data = nil
		ev.Secret = &s
	case *api.Network:
		ev.Network = o
	}
	w.events = append(w.events, ev)
}

// first returns the object of table whose index equals arg, or nil.
func (w *writer) first(table, index, arg string) any {
	raw, err := w.txn.First(table, index, arg)
	if err != nil {
		return nil
	}
	return raw
}

// checkFree fails unless the name and ID of a new object are free.
func (w *writer) checkFree(table, kind, id, name string) error {
	if w.first(table, "name", name) != nil {
		return fmt.Errorf("%s %q: %w", kind, name, ErrNameConflict)
	}
	if w.first(table, "id", id) != nil {
		return fmt.Errorf("%s id %s: %w", kind, id, ErrNameConflict)
	}
	return nil
}

// usersOf returns the names of the services for which uses is true, sorted.
func (w *writer) usersOf(uses func(*api.ServiceSpec) bool) ([]string, error) {
	it, err := w.txn.Get(tableServices, "id")
	if err != nil {
		return nil, err
	}
	var names []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if s := raw.(*api.Service); uses(&s.Spec) {
			names = append(names, s.Spec.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// InUseError refuses the removal of an object that services use, or
// that a task is on. It is ErrInUse.
type InUseError struct {
	Kind, Name string
	// Services are the names of the services that use it, sorted.
	Services []string
	// Task names a running task on it (a network).
	Task string
}

func (e *InUseError) Error() string {
	if e.Task != "" {
		return fmt.Sprintf("%s %q is in use by task %s", e.Kind, e.Name, e.Task)
	}
	what := "service"
	if len(e.Services) > 1 {
		what = "services"
	}
	return fmt.Sprintf("%s %q is in use by %s %s", e.Kind, e.Name, what, strings.Join(e.Services, ", "))
}

// Is makes errors.Is(err, ErrInUse) hold.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// refuseInUse fails with an InUseError when services use the object.
func refuseInUse(kind, name string, services []string) error {
	if len(services) == 0 {
		return nil
	}
	return &InUseError{Kind: kind, Name: name, Services: services}
}

// createNamed adds obj, a copy of the config, secret or network given,
// whose meta, ID and name are those passed.
func (w *writer) createNamed(table, kind, evType string, obj any, meta *api.Meta, id, name string) error {
	if id == "" || name == "" {
		return fmt.Errorf("create %s: missing %s", kind, kind)
	}
	if err := w.checkFree(table, kind, id, name); err != nil {
		return err
	}
	w.stamp(meta, true)
	if err := w.txn.Insert(table, obj); err != nil {
		return err
	}
	w.event(evType, api.ActionCreate, id, obj)
	return nil
}

// removeNamed removes the config, secret or network id, unless a service
// names it or inUse, when not nil, refuses.
func (w *writer) removeNamed(table, kind, evType, id string, inUse func(name string) error) error {
	cur := w.first(table, "id", id)
	if cur == nil {
		return fmt.Errorf("%s %s: %w", kind, id, ErrNotFound)
	}
	name, _ := specName(cur)
	users, err := w.usersOf(func(s *api.ServiceSpec) bool { return specUses(s, evType, name, id) })
	if err != nil {
		return err
	}
	if err := refuseInUse(kind, name, users); err != nil {
		return err
	}
	if inUse != nil {
		if err := inUse(name); err != nil {
			return err
		}
	}
	if err := w.txn.Delete(table, cur); err != nil {
		return err
	}
	w.event(evType, api.ActionRemove, id, cur)
	return nil
}

func (w *writer) createConfig(in *api.Config) error {
	if in == nil {
		return fmt.Errorf("create config: missing config")
	}
	c := *in
	return w.createNamed(tableConfigs, "config", api.EventConfig, &c, &c.Meta, c.ID, c.Spec.Name)
}

func (w *writer) config(id string) (*api.Config, error) {
	raw := w.first(tableConfigs, "id", id)
	if raw == nil {
		return nil, fmt.Errorf("config %s: %w", id, ErrNotFound)
	}
	return raw.(*api.Config), nil
}

func (w *writer) removeConfig(id string) error {
	return w.removeNamed(tableConfigs, "config", api.EventConfig, id, nil)
}

func (w *writer) updateConfigLabels(id string, labels map[string]string, expect uint64) error {
	cur, err := w.config(id)
	if err != nil {
		return err
	}
	if expect != 0 && cur.Version != expect {
		return fmt.Errorf("config %s: version %d, expected %d: %w", cur.Spec.Name, cur.Version, expect, ErrVersionConflict)
	}
	c := *cur
	c.Spec.Labels = labels
	w.stamp(&c.Meta, false)
	if err := w.txn.Insert(tableConfigs, &c); err != nil {
		return err
	}
	w.event(api.EventConfig, api.ActionUpdate, c.ID, &c)
	return nil
}

func (w *writer) createSecret(in *api.Secret) error {
	if in == nil {
		return fmt.Errorf("create secret: missing secret")
	}
	s := *in
	return w.createNamed(tableSecrets, "secret", api.EventSecret, &s, &s.Meta, s.ID, s.Spec.Name)
}

func (w *writer) secret(id string) (*api.Secret, error) {
	raw := w.first(tableSecrets, "id", id)
	if raw == nil {
		return nil, fmt.Errorf("secret %s: %w", id, ErrNotFound)
	}
	return raw.(*api.Secret), nil
}

func (w *writer) removeSecret(id string) error {
	return w.removeNamed(tableSecrets, "secret", api.EventSecret, id, nil)
}

func (w *writer) updateSecretLabels(id string, labels map[string]string, expect uint64) error {
	cur, err := w.secret(id)
	if err != nil {
		return err
	}
	if expect != 0 && cur.Version != expect {
		return fmt.Errorf("secret %s: version %d, expected %d: %w", cur.Spec.Name, cur.Version, expect, ErrVersionConflict)
	}
	s := *cur
	s.Spec.Labels = labels
	w.stamp(&s.Meta, false)
	if err := w.txn.Insert(tableSecrets, &s); err != nil {
		return err
	}
	w.event(api.EventSecret, api.ActionUpdate, s.ID, &s)
	return nil
}

func (w *writer) createNetwork(in *api.Network) error {
	if in == nil {
		return fmt.Errorf("create network: missing network")
	}
	n := *in
	if err := w.checkFree(tableNetworks, "network", n.ID, n.Spec.Name); err != nil {
		return err
	}
	if err := w.allocNetwork(&n); err != nil {
		return err
	}
	return w.createNamed(tableNetworks, "network", api.EventNetwork, &n, &n.Meta, n.ID, n.Spec.Name)
}

// removeNetwork removes a network; its subnet and VXLAN ID go with it.
// As in Swarm, a task meant to run that is on it keeps it (a service that
// left the network may still run tasks of its old spec), unless its
// service is gone: its tasks are on their way out.
func (w *writer) removeNetwork(id string) error {
	tasksOn := func(name string) error {
		for _, t := range w.tasks.under(w.tasks.byNet, id, nil) {
			if t.Live() && w.first(tableServices, "id", t.ServiceID) != nil {
				return &InUseError{Kind: "network", Name: name, Task: t.Name()}
			}
		}
		return nil
	}
	if err := w.removeNamed(tableNetworks, "network", api.EventNetwork, id, tasksOn); err != nil {
		return err
	}
	return w.dropHint(hintAddrPfx + id)
}

// checkRefs fails unless every config, secret and network svc names
// exists: configs and secrets by name, networks by name or ID.
func (w *writer) checkRefs(svc *api.Service) error {
	if svc == nil {
		return fmt.Errorf("check references: missing service")
	}
	c := &svc.Spec.TaskTemplate.ContainerSpec
	for _, r := range c.Configs {
		if w.first(tableConfigs, "name", r.ConfigName) == nil {
			return fmt.Errorf("service %s: config %q %w", svc.Spec.Name, r.ConfigName, ErrMissingRef)
		}
	}
	for _, r := range c.Secrets {
		if w.first(tableSecrets, "name", r.SecretName) == nil {
			return fmt.Errorf("service %s: secret %q %w", svc.Spec.Name, r.SecretName, ErrMissingRef)
		}
	}
	for _, a := range svc.Spec.TaskTemplate.Networks {
		if w.first(tableNetworks, "name", a.Target) == nil && w.first(tableNetworks, "id", a.Target) == nil {
			return fmt.Errorf("service %s: network %q %w", svc.Spec.Name, a.Target, ErrMissingRef)
		}
	}
	return nil
}
