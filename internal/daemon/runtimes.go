package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoalproject/shoal/internal/datadir"
	"github.com/shoalproject/shoal/internal/privdir"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/docker"
)

// nodeRuntimes are the runtimes a node's agent offers.
type nodeRuntimes struct {
	process *processRuntime
	// docker is nil when not offered.
	docker *docker.Runtime
}

// openRuntimes opens the process runtime over the data folder's tasks
// folder, publishing ports on addr, and the docker runtime when useDocker
// is set and a Docker Engine answers, publishing on dockerAddr when set
// (the engine is not in the node's network namespace; the endpoints stay
// on addr); both keep
// secrets under secretsDir
// (DefaultSecretsDir if empty). It fails when that folder or the node's
// folder in it is not safe to write secrets to.
func openRuntimes(ctx context.Context, dir *datadir.Dir, nodeID, addr, dockerAddr, secretsDir string, useDocker bool, log *slog.Logger) (nodeRuntimes, error) {
	var rts nodeRuntimes
	var err error
	rts.process, err = openProcess(dir.Join("tasks"), nodeID, addr, secretsDir)
	if err != nil {
		return rts, secretsDirHint(err)
	}
	if useDocker {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rts.docker, err = docker.New(dctx, docker.Options{NodeID: nodeID, NodeAddr: addr, PublishAddr: dockerAddr, FilesDir: secretsDir, Logger: log.With("component", "docker")})
		cancel()
		var unsafe *privdir.UnsafeError
		if errors.As(err, &unsafe) {
			rts.close()
			return nodeRuntimes{}, secretsDirHint(err)
		}
		if err != nil {
			log.Info("docker runtime not offered: no Docker Engine answered", "err", err)
			rts.docker = nil
		}
	}
	return rts, nil
}

// secretsDirHint adds the way out of an unsafe secrets folder that only
// the command line offers.
func secretsDirHint(err error) error {
	var unsafe *privdir.UnsafeError
	if errors.As(err, &unsafe) {
		return fmt.Errorf("%w, or choose another folder with --secrets-dir", err)
	}
	return err
}

// list is the runtimes for the agent.
func (r nodeRuntimes) list() []runtime.Runtime {
	out := []runtime.Runtime{r.process}
	if r.docker != nil {
		out = append(out, r.docker)
	}
	return out
}

// close closes the runtimes; their tasks keep running.
func (r nodeRuntimes) close() []error {
	var errs []error
	if r.process != nil {
		errs = append(errs, r.process.Close())
	}
	if r.docker != nil {
		errs = append(errs, r.docker.Close())
	}
	return errs
}
