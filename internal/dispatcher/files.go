package dispatcher

import (
	"fmt"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
)

// needsFiles reports whether the agent may still start t, and so needs its
// configs and secrets.
func needsFiles(t *api.Task) bool {
	return !t.Status.State.Terminal() && t.DesiredState <= api.TaskStateRunning
}

// attachFiles adds to a the configs and secrets (decrypted) that its tasks
// name, and the networks they are attached to, that the agent was not
// given yet in this session; a full
// assignment starts over. Only the tasks of a carry files to the node, so a
// node gets only what the tasks it runs name.
func (s *Session) attachFiles(tx *state.ReadTx, a *api.Assignments) {
	if a.Full || s.sent == nil {
		s.sent = map[string]bool{}
	}
	for _, t := range a.Tasks {
		if !needsFiles(t) {
			continue
		}
		for _, na := range t.NetworksAttachments {
			nw := tx.Network(na.Network.ID)
			if nw == nil || s.sent["network/"+nw.ID] {
				continue
			}
			s.sent["network/"+nw.ID] = true
			a.Networks = append(a.Networks, nw)
		}
		c := &t.Spec.ContainerSpec
		for _, ref := range c.Configs {
			cfg := lookupConfig(tx, ref)
			if cfg == nil || s.sent["config/"+cfg.ID] {
				continue
			}
			s.sent["config/"+cfg.ID] = true
			a.Configs = append(a.Configs, cfg)
		}
		for _, ref := range c.Secrets {
			sec := lookupSecret(tx, ref)
			if sec == nil || s.sent["secret/"+sec.ID] {
				continue
			}
			open, err := s.d.openSecret(sec)
			if err != nil {
				s.d.logger().Error("secret not delivered", "secret", sec.Spec.Name, "node", s.nodeID, "err", err)
				continue
			}
			s.sent["secret/"+sec.ID] = true
			a.Secrets = append(a.Secrets, open)
		}
	}
}

// lookupConfig finds the config a reference names: by the ID recorded when
// the service was written, else by name.
func lookupConfig(tx *state.ReadTx, ref api.ConfigReference) *api.Config {
	if ref.ConfigID != "" {
		if c := tx.Config(ref.ConfigID); c != nil {
			return c
		}
	}
	return tx.ConfigByName(ref.ConfigName)
}

// lookupSecret finds the secret a reference names, as lookupConfig.
func lookupSecret(tx *state.ReadTx, ref api.SecretReference) *api.Secret {
	if ref.SecretID != "" {
		if s := tx.Secret(ref.SecretID); s != nil {
			return s
		}
	}
	return tx.SecretByName(ref.SecretName)
}

// openSecret returns a copy of a stored secret with its data decrypted.
func (d *Dispatcher) openSecret(sec *api.Secret) (*api.Secret, error) {
	out := *sec
	if d.SecretKey == nil {
		return &out, nil
	}
	plain, err := d.SecretKey.Open(sec.Spec.Data, secretkey.SecretContext(sec.ID))
	if err != nil {
		return nil, err
	}
	out.Spec.Data = plain
	return &out, nil
}

// OpenSecret returns the secret ref names, decrypted, for a node's
// ingress: the secrets services' labels read (ingress.LabelSecrets),
// which the ingress of every node needs, since each serves every route.
func (d *Dispatcher) OpenSecret(tx *state.ReadTx, ref api.SecretReference) (*api.Secret, error) {
	sec := lookupSecret(tx, ref)
	if sec == nil {
		return nil, fmt.Errorf("secret %s does not exist", ref.SecretName)
	}
	return d.openSecret(sec)
}
