package api

import (
	"encoding/json"
	"strings"
)

// DescribeChange names the parts of a service spec that differ between
// before and after, for the service's history ("image, env, replicas").
func DescribeChange(before, after *ServiceSpec) string {
	b, a := before.TaskTemplate.ContainerSpec, after.TaskTemplate.ContainerSpec
	parts := []struct {
		name string
		x, y any
	}{
		{"image", b.Image, a.Image},
		{"command", b.Command, a.Command},
		{"args", b.Args, a.Args},
		{"env", b.Env, a.Env},
		{"labels", before.Labels, after.Labels},
		{"container labels", b.Labels, a.Labels},
		{"user", b.User, a.User},
		{"workdir", b.Dir, a.Dir},
		{"healthcheck", b.Healthcheck, a.Healthcheck},
		{"stop", [2]any{b.StopSignal, b.StopGracePeriod}, [2]any{a.StopSignal, a.StopGracePeriod}},
		{"configs", b.Configs, a.Configs},
		{"secrets", b.Secrets, a.Secrets},
		{"mounts", b.Mounts, a.Mounts},
		{"replicas", before.Mode, after.Mode},
		{"restart policy", before.TaskTemplate.RestartPolicy, after.TaskTemplate.RestartPolicy},
		{"placement", before.TaskTemplate.Placement, after.TaskTemplate.Placement},
		{"resources", before.TaskTemplate.Resources, after.TaskTemplate.Resources},
		{"networks", before.TaskTemplate.Networks, after.TaskTemplate.Networks},
		{"ports", before.EndpointSpec, after.EndpointSpec},
		{"update config", before.UpdateConfig, after.UpdateConfig},
		{"rollback config", before.RollbackConfig, after.RollbackConfig},
		{"force", before.TaskTemplate.ForceUpdate, after.TaskTemplate.ForceUpdate},
	}
	var changed []string
	for _, p := range parts {
		if !sameJSON(p.x, p.y) {
			changed = append(changed, p.name)
		}
	}
	if len(changed) == 0 {
		return "no change"
	}
	return strings.Join(changed, ", ")
}

// sameJSON compares two values by their JSON form, so nil and empty
// collections (which a trip through the Raft log conflates) are equal.
func sameJSON(x, y any) bool {
	a, _ := json.Marshal(x)
	b, _ := json.Marshal(y)
	return normalizeEmpty(string(a)) == normalizeEmpty(string(b))
}

func normalizeEmpty(s string) string {
	switch s {
	case "null", "[]", "{}", `""`, "0", "false":
		return ""
	}
	return s
}
