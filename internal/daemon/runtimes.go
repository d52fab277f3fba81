package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoalproject/shoal/internal/datadir"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/docker"
	"github.com/shoalproject/shoal/internal/runtime/process"
)

// nodeRuntimes are the runtimes a node's agent offers.
type nodeRuntimes struct {
	process *process.Runtime
	// docker is nil when not offered.
	docker *docker.Runtime
}

// openRuntimes opens the process runtime over the data folder's tasks
// folder, publishing ports on addr, and the docker runtime when useDocker
// is set and a Docker Engine answers.
func openRuntimes(ctx context.Context, dir *datadir.Dir, nodeID, addr string, useDocker bool, log *slog.Logger) (nodeRuntimes, error) {
	var rts nodeRuntimes
	var err error
	rts.process, err = process.New(dir.Join("tasks"), addr)
	if err != nil {
		return rts, err
	}
	if useDocker {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rts.docker, err = docker.New(dctx, docker.Options{NodeID: nodeID, NodeAddr: addr, Logger: log.With("component", "docker")})
		cancel()
		if err != nil {
			log.Info("docker runtime not offered: no Docker Engine answered", "err", err)
			rts.docker = nil
		}
	}
	return rts, nil
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
