package agent

import (
	"fmt"
	"sync"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// fileStore holds the configs and secrets the dispatcher handed this node:
// those its tasks name, secrets decrypted. They stay in memory only. A full
// assignment replaces them all; otherwise they are kept for the session,
// since the dispatcher sends each once.
type fileStore struct {
	// goos is the node's platform, whose paths the targets are mapped to.
	goos          string
	mu            sync.Mutex
	configs       map[string]*api.Config // by ID
	configsByName map[string]*api.Config
	secrets       map[string]*api.Secret // by ID
	secretsByName map[string]*api.Secret
}

func newFileStore(goos string) *fileStore {
	f := &fileStore{goos: goos}
	f.reset()
	return f
}

func (f *fileStore) reset() {
	f.configs, f.configsByName = map[string]*api.Config{}, map[string]*api.Config{}
	f.secrets, f.secretsByName = map[string]*api.Secret{}, map[string]*api.Secret{}
}

// apply takes in the configs and secrets of an assignment change.
func (f *fileStore) apply(as api.Assignments) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if as.Full {
		f.reset()
	}
	for _, c := range as.Configs {
		f.configs[c.ID] = c
		f.configsByName[c.Spec.Name] = c
	}
	for _, s := range as.Secrets {
		f.secrets[s.ID] = s
		f.secretsByName[s.Spec.Name] = s
	}
}

// forTask returns the files of a task's configs and secrets, at their
// targets. It fails if the node was not given one of them.
func (f *fileStore) forTask(t *api.Task) ([]runtime.File, error) {
	c := &t.Spec.ContainerSpec
	if len(c.Configs) == 0 && len(c.Secrets) == 0 {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.File
	for _, ref := range c.Configs {
		cfg := f.configs[ref.ConfigID]
		if cfg == nil {
			cfg = f.configsByName[ref.ConfigName]
		}
		if cfg == nil {
			return nil, fmt.Errorf("config %q is not available on this node", ref.ConfigName)
		}
		target, err := ref.TargetOn(f.goos)
		if err != nil {
			return nil, fmt.Errorf("config %q: %w", ref.ConfigName, err)
		}
		out = append(out, file(target, cfg.Spec.Data, ref.File, false))
	}
	for _, ref := range c.Secrets {
		sec := f.secrets[ref.SecretID]
		if sec == nil {
			sec = f.secretsByName[ref.SecretName]
		}
		if sec == nil {
			return nil, fmt.Errorf("secret %q is not available on this node", ref.SecretName)
		}
		target, err := ref.TargetOn(f.goos)
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", ref.SecretName, err)
		}
		out = append(out, file(target, sec.Spec.Data, ref.File, true))
	}
	return out, nil
}

// file is one runtime file; its mode defaults to 0444.
func file(target string, data []byte, ft *api.FileTarget, secret bool) runtime.File {
	out := runtime.File{Target: target, Data: data, Mode: 0o444, Secret: secret}
	if ft != nil {
		out.UID, out.GID = ft.UID, ft.GID
		if ft.Mode != 0 {
			out.Mode = ft.Mode
		}
	}
	return out
}
