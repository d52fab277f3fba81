package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/shoalproject/shoal/api"
)

// serviceMode builds the service's mode from --mode, --replicas,
// --max-concurrent and --total-completions, with docker's defaults: a
// replicated job needs --replicas completions (1 unless given), and runs
// as many at once unless --max-concurrent says fewer.
func (f *serviceFlags) serviceMode(fs *pflag.FlagSet) (api.ServiceMode, error) {
	jobFlags := fs.Changed("max-concurrent") || fs.Changed("total-completions")
	switch f.mode {
	case "replicated", "global", "global-job":
		if jobFlags {
			return api.ServiceMode{}, fmt.Errorf("--max-concurrent and --total-completions can only be used with --mode replicated-job")
		}
	}
	switch f.mode {
	case "replicated":
		return api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: f.replicas}}, nil
	case "global", "global-job":
		if fs.Changed("replicas") {
			return api.ServiceMode{}, fmt.Errorf("--replicas can only be used with replicated mode")
		}
		if f.mode == "global" {
			return api.ServiceMode{Global: &api.GlobalService{}}, nil
		}
		return api.ServiceMode{GlobalJob: &api.GlobalJob{}}, nil
	case "replicated-job":
		total := f.replicas
		if fs.Changed("total-completions") {
			if fs.Changed("replicas") && f.replicas != f.totalCompletions {
				return api.ServiceMode{}, fmt.Errorf("--replicas %d and --total-completions %d disagree: a replicated job's replicas are its completions, give one of them", f.replicas, f.totalCompletions)
			}
			total = f.totalCompletions
		}
		if total == 0 {
			return api.ServiceMode{}, fmt.Errorf("a replicated job needs at least 1 completion: raise --replicas or --total-completions")
		}
		concurrent := total
		if fs.Changed("max-concurrent") {
			if f.maxConcurrent == 0 {
				return api.ServiceMode{}, fmt.Errorf("--max-concurrent 0 would never run the job: give at least 1")
			}
			concurrent = min(f.maxConcurrent, total)
		}
		return api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: concurrent, TotalCompletions: total}}, nil
	}
	return api.ServiceMode{}, fmt.Errorf("invalid --mode %q: want replicated, global, replicated-job or global-job", f.mode)
}

// jobReplicas is a job's REPLICAS column, as docker's service ls shows it:
// "RUNNING/DESIRED (COMPLETED/TOTAL completed)", counting the tasks of
// the job's current run (its spec version). DESIRED is how many run at
// once now: for a replicated job max-concurrent, fewer when fewer
// completions remain; for a global job the nodes not yet completed.
func jobReplicas(svc *api.Service, tasks []*api.Task) string {
	var running, completed int
	nodes := map[string]bool{}
	for _, t := range tasks {
		if t.SpecVersion != svc.SpecVersion || t.DesiredState > api.TaskStateShutdown {
			continue
		}
		switch t.Status.State {
		case api.TaskStateRunning:
			if t.DesiredState == api.TaskStateRunning {
				running++
			}
		case api.TaskStateComplete:
			completed++
		}
		nodes[t.NodeID] = true
	}
	total := len(nodes)
	desired := total - completed
	if j := svc.Spec.Mode.ReplicatedJob; j != nil {
		concurrent, all := j.Limits()
		total = int(all)
		desired = min(int(concurrent), max(total-completed, 0))
	}
	return fmt.Sprintf("%d/%d (%d/%d completed)", running, desired, completed, total)
}
