package api

// ReplicaCounts returns how many of the service's tasks run and how many
// should: `service ls`'s REPLICAS. A replicated service counts one
// running task per slot in range.
func (s *Service) ReplicaCounts(tasks []*Task) (running, desired int) {
	if s.Spec.Mode.IsGlobal() {
		// A global service wants one task on each node it has a task
		// meant to run on, whether that task runs, fails or was
		// rejected and waits to be restarted: docker shows 0/1 for a
		// node whose task was rejected, not 0/0.
		want, runs := map[string]bool{}, map[string]bool{}
		for _, t := range tasks {
			if t.DesiredState != TaskStateRunning {
				continue
			}
			want[t.NodeID] = true
			if t.Status.State == TaskStateRunning {
				runs[t.NodeID] = true
			}
		}
		return len(runs), len(want)
	}
	want := s.Spec.Mode.Replicas()
	slots := map[uint64]bool{}
	for _, t := range tasks {
		if t.DesiredState == TaskStateRunning && t.Status.State == TaskStateRunning && t.Slot >= 1 && t.Slot <= want {
			slots[t.Slot] = true
		}
	}
	return len(slots), int(want)
}
